-- The trace a message was published in (W3C traceparent), so the handler's span continues
-- it. Empty while traces are not exported.

ALTER TABLE queue_messages ADD COLUMN trace_parent TEXT;
