//! One way to render a user-editable minijinja template from a string, with errors a person
//! can act on. Strict mode makes a missing variable an error (saving, previewing); lenient
//! mode renders it empty (sending, where losing the message would be worse).
//!
//! Every render has a fuel budget: any signed-in user may render a draft
//! (`POST /email-templates/preview`), so a template that loops for ever, or builds a string
//! of gigabytes, stops with an error instead of holding a worker thread and growing memory.

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

/// Instructions one render may run: far above any mail or notification (a few hundred),
/// far below what takes a noticeable time (about 10 ms on one core).
const FUEL: u64 = 100_000;

pub fn render(source: &str, vars: impl Serialize, strict: bool) -> Result<String, String> {
    let mut env = Environment::new();
    env.set_fuel(Some(FUEL));
    env.set_undefined_behavior(if strict {
        UndefinedBehavior::Strict
    } else {
        UndefinedBehavior::Lenient
    });
    let template = env
        .template_from_str(source)
        .map_err(|e| format!("does not compile: {e}"))?;
    template
        .render(vars)
        .map_err(|e| format!("does not render: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strict_refuses_a_missing_variable_lenient_leaves_it_empty() {
        let vars = json!({"name": "Ada"});
        assert_eq!(
            render("Hi {{ name }}{{ x }}", &vars, false).unwrap(),
            "Hi Ada"
        );
        let err = render("Hi {{ name }}{{ x }}", &vars, true).unwrap_err();
        assert!(err.starts_with("does not render"), "{err}");
    }

    #[test]
    fn a_template_that_runs_away_is_stopped() {
        let source =
            "{% for a in range(10000) %}{% for b in range(10000) %}x{% endfor %}{% endfor %}";
        let err = render(source, json!({}), false).unwrap_err();
        assert!(err.starts_with("does not render"), "{err}");
    }

    #[test]
    fn a_broken_template_says_it_does_not_compile() {
        let err = render("{% if %}", json!({}), false).unwrap_err();
        assert!(err.starts_with("does not compile"), "{err}");
    }
}
