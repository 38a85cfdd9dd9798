//! Converters from other tools' rule files into Klaxon's: plain text in, rule files and a
//! klaxon.yaml fragment out. Nothing here runs rules; `klaxon check` judges the result.

pub mod elastalert;
mod yaml_out;
