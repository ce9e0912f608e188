package support.network_test

import data.support.network

req(host, body) := {
	"request": {"method": "POST", "host": host, "port": 443, "path": "/v1/x", "headers": {}, "body": body},
	"source": {"binary": "node", "pid": 1, "sandbox_id": "support-01"},
	"attestation": null,
	"timestamp": "2026-03-20T14:30:00Z",
}

test_crm_may_receive_pii if {
	network.allow with input as req("acme.my.salesforce.com", {"email": "jane@example.com"})
	count(network.deny) == 0 with input as req("acme.my.salesforce.com", {"email": "jane@example.com"})
}

test_llm_without_pii_allowed if {
	network.allow with input as req("api.openai.com", {"messages": [{"content": "summarise ticket 42"}]})
}

test_llm_with_email_denied if {
	i := req("api.openai.com", {"messages": [{"content": "customer jane@example.com is angry"}]})
	not network.allow with input as i
	network.deny == {"the request to api.openai.com contains an email address; customer data may only go to the helpdesk or CRM"} with input as i
}

test_card_and_ssn_both_reported if {
	i := req("api.anthropic.com", {"text": "card 4111 1111 1111 1111, ssn 123-45-6789"})
	reasons := network.deny with input as i
	count(reasons) == 2
}

test_pii_in_query_string_denied if {
	i := object.union(req("api.openai.com", null), {"request": {"query": {"q": ["jane@example.com"]}}})
	not network.allow with input as i
}

test_unknown_host_denied if {
	not network.allow with input as req("pastebin.com", {"text": "hello"})
}

test_other_binary_gets_reason if {
	i := object.union(req("acme.zendesk.com", null), {"source": {"binary": "curl"}})
	not network.allow with input as i
	network.deny_reason == {"curl may not make network requests"} with input as i
}
