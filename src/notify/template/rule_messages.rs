//! What rules say about their own messages (`templates:` per channel, `dingtalk:` mentions),
//! shared with every channel and replaced whole when rules are reloaded.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::TemplateParts;
use crate::notify::dingtalk::DingTalkAt;

/// One rule's message settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleMessage {
    /// Channel name → the parts this rule replaces there.
    pub templates: HashMap<String, TemplateParts>,
    /// Who DingTalk messages about this rule mention, besides the channel's own list.
    pub dingtalk: DingTalkAt,
}

impl RuleMessage {
    pub fn is_empty(&self) -> bool {
        self.templates.is_empty() && self.dingtalk == DingTalkAt::default()
    }
}

/// Rule name → its message settings, for the rules now running.
#[derive(Debug, Default)]
pub struct RuleMessages {
    by_rule: RwLock<Arc<HashMap<String, RuleMessage>>>,
}

impl RuleMessages {
    pub fn new(by_rule: HashMap<String, RuleMessage>) -> Self {
        RuleMessages {
            by_rule: RwLock::new(Arc::new(by_rule)),
        }
    }

    /// The rules were reloaded: from now on their settings are these.
    pub fn replace(&self, by_rule: HashMap<String, RuleMessage>) {
        // A panic elsewhere while holding the lock leaves a whole map behind: keep using it.
        *self.by_rule.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(by_rule);
    }

    pub fn get(&self, rule: &str) -> Option<RuleMessage> {
        let map = self
            .by_rule
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        map.get(rule).cloned()
    }
}
