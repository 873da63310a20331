//! Templates per event type and channel: minijinja title and body, checked with each event's
//! sample variables when saved, rendered leniently when sent (a missing variable renders
//! empty rather than losing the notification).

use serde_json::{json, Value};

use crate::platform::http::FieldError;
use crate::platform::templating;

/// A title or body: trimmed, since templates often end in a newline.
fn part(source: &str, vars: &Value, strict: bool) -> Result<String, String> {
    templating::render(source, vars, strict).map(|s| s.trim().to_string())
}

/// Every event type notifications render, with the variables its templates receive.
pub const EVENT_TYPES: &[(&str, &str)] = &[
    ("account.welcome", "a new account (auth.user_registered)"),
    ("orders.placed", "the buyer's order was placed"),
    (
        "orders.received",
        "a store received an order (to its owner)",
    ),
    ("orders.status_changed", "the buyer's order moved on"),
    (
        "catalog.stock_low",
        "a product fell to its low-stock threshold (to the store's owner)",
    ),
    (
        "admin.message",
        "an administrator's message (`title`, `body`)",
    ),
];

pub fn is_known(event_type: &str) -> bool {
    EVENT_TYPES.iter().any(|(name, _)| *name == event_type)
}

/// Variables like the ones `event_type` is rendered with, for checking and previews.
pub fn sample(event_type: &str) -> Value {
    let order = json!({
        "order_id": "0195e2a4-0000-7000-8000-000000000000",
        "order_ref": "0195E2A4",
        "amount": "129.99 EUR",
        "total": 12999,
        "currency": "EUR",
    });
    match event_type {
        "account.welcome" => json!({"name": "Ada"}),
        "orders.placed" | "orders.received" => order,
        "orders.status_changed" => json!({
            "order_id": order["order_id"], "order_ref": order["order_ref"],
            "from": "paid", "to": "fulfilled",
        }),
        "catalog.stock_low" => json!({
            "product_id": "0195e2a4-0000-7000-8000-000000000001",
            "sku": "MUG-01", "stock": 2, "threshold": 5,
        }),
        _ => json!({"title": "Maintenance tonight", "body": "From 22:00 to 23:00 UTC."}),
    }
}

/// (title, body) for sending.
pub fn render(title: &str, body: &str, vars: &Value) -> Result<(String, String), String> {
    Ok((part(title, vars, false)?, part(body, vars, false)?))
}

/// Checks a template against the event's sample variables; every problem at once.
pub fn check(
    event_type: &str,
    title: &str,
    body: &str,
) -> Result<(String, String), Vec<FieldError>> {
    let vars = sample(event_type);
    let mut errors = Vec::new();
    let mut part = |name: &str, source: &str, max: usize| {
        if source.trim().is_empty() || source.len() > max {
            errors.push(FieldError {
                field: name.into(),
                message: format!("needs 1 to {max} characters"),
            });
            return None;
        }
        part(source, &vars, true)
            .map_err(|message| {
                errors.push(FieldError {
                    field: name.into(),
                    message,
                })
            })
            .ok()
    };
    let title = part("title", title, 500);
    let body = part("body", body, 10_000);
    match (title, body) {
        (Some(t), Some(b)) if errors.is_empty() => Ok((t, b)),
        _ => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_variables_are_refused_when_saved_and_empty_when_sent() {
        let errors = check("orders.placed", "Order {{ nope }}", "{{ amount }}").unwrap_err();
        assert_eq!(errors[0].field, "title");
        assert!(errors[0].message.contains("does not render"), "{errors:?}");
        let (title, _) = render("Order {{ nope }}", "b", &json!({})).unwrap();
        assert_eq!(title, "Order");
    }

    #[test]
    fn syntax_errors_name_the_part() {
        let errors = check("orders.placed", "ok", "{% if %}").unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "body");
        assert!(errors[0].message.contains("does not compile"));
    }

    #[test]
    fn every_event_has_sample_variables_for_its_default_template() {
        let (title, body) = check(
            "orders.status_changed",
            "Order {{ order_ref }} is {{ to | replace(\"_\", \" \") }}",
            "{{ from }} -> {{ to }}",
        )
        .unwrap();
        assert_eq!(title, "Order 0195E2A4 is fulfilled");
        assert_eq!(body, "paid -> fulfilled");
        assert!(check("orders.status_changed", "{{ amount }}", "b").is_err());
        for (name, _) in EVENT_TYPES {
            assert!(sample(name).is_object());
        }
    }
}
