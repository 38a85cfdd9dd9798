//! A rule's options with a record of which were read, so that every option of an
//! ElastAlert file ends up converted or named in a note — never silently dropped.

use std::cell::RefCell;
use std::collections::BTreeSet;

use serde_json::{Map, Value};

pub struct Options<'a> {
    map: &'a Map<String, Value>,
    read: RefCell<BTreeSet<String>>,
}

impl<'a> Options<'a> {
    pub fn new(map: &'a Map<String, Value>) -> Self {
        Options {
            map,
            read: RefCell::new(BTreeSet::new()),
        }
    }

    /// The option's value (a `null` is no value), marking it read.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.read.borrow_mut().insert(key.to_string());
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub fn str(&self, key: &str) -> Option<&'a str> {
        self.get(key).and_then(Value::as_str)
    }

    pub fn bool(&self, key: &str) -> Option<bool> {
        self.get(key).and_then(Value::as_bool)
    }

    /// The options not read yet whose names start with `prefix`, in file order.
    pub fn unread_with_prefix(&self, prefix: &str) -> Vec<(&'a str, &'a Value)> {
        let read = self.read.borrow();
        self.map
            .iter()
            .filter(|(k, _)| k.starts_with(prefix) && !read.contains(k.as_str()))
            .map(|(k, v)| (k.as_str(), v))
            .collect()
    }

    /// Marks options read without using them.
    pub fn mark(&self, key: &str) {
        self.read.borrow_mut().insert(key.to_string());
    }

    pub fn has(&self, key: &str) -> bool {
        self.map.get(key).is_some_and(|v| !v.is_null())
    }

    /// Options never read.
    pub fn unread(&self) -> Vec<&'a str> {
        self.unread_with_prefix("")
            .into_iter()
            .map(|(k, _)| k)
            .collect()
    }
}
