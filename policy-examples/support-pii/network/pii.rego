# PII-aware egress for the support agent (Rego v1). Input: SPEC.md section 6.
# Allowed: the helpdesk and CRM (which may receive customer data) and the LLM hosts (which may not).
package support.network

default allow := false

allow if {
	input.source.binary in data.agent_binaries
	input.request.host in data.pii_destinations
}

allow if {
	input.source.binary in data.agent_binaries
	input.request.host in data.llm_hosts
	count(pii_found) == 0
}

# Each kind of PII found in the request body (serialised) or the query string.
pii_found contains kind if {
	some kind, pattern in patterns
	regex.match(pattern, payload)
}

patterns := {
	"an email address": `[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}`,
	"a phone number": `\+?\d{1,3}[ .-]?\(?\d{3}\)?[ .-]?\d{3}[ .-]?\d{4}`,
	"an SSN": `\b\d{3}-\d{2}-\d{4}\b`,
	"a card number": `\b\d{4}[ -]?\d{4}[ -]?\d{4}[ -]?\d{4}\b`,
}

payload := concat(" ", [json.marshal(object.get(input.request, "body", null)), json.marshal(object.get(input.request, "query", {}))])

deny contains msg if {
	not input.request.host in data.pii_destinations
	some kind in pii_found
	msg := sprintf("the request to %s contains %s; customer data may only go to the helpdesk or CRM", [input.request.host, kind])
}

deny_reason contains msg if {
	not input.source.binary in data.agent_binaries
	msg := sprintf("%s may not make network requests", [input.source.binary])
}
