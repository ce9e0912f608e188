# PII guard (Rego v1): any message in `deny` blocks the request, whatever `allow` says.
package nemoclaw.network

default allow := false

allow if input.request.host in {"api.openai.com", "slack.com", "inference.local"}

# The body as the proxy parsed it (JSON object, string or null) plus the decoded query string, as text.
text := concat("\n", [json.marshal(object.get(input.request, "body", null)), json.marshal(object.get(input.request, "query", {}))])

deny contains "request contains an SSN-like number" if regex.match(`\b\d{3}-\d{2}-\d{4}\b`, text)

deny contains "request contains a card-like number" if regex.match(`\b(?:\d[ -]?){15}\d\b`, text)

deny contains "request contains an email address" if regex.match(`[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}`, text)
