package nemoclaw.network_test

import data.nemoclaw.network

post(body) := {
	"request": {"method": "POST", "host": "api.openai.com", "port": 443, "path": "/v1/chat/completions", "headers": {"content-type": "application/json"}, "body": body},
	"source": {"binary": "node", "pid": 1, "sandbox_id": "pii"},
	"attestation": null,
	"timestamp": "2026-03-20T14:30:00Z",
}

test_clean_request_passes if {
	network.allow with input as post({"messages": [{"role": "user", "content": "hello"}]})
	count(network.deny) == 0 with input as post({"messages": [{"role": "user", "content": "hello"}]})
}

test_ssn_denied if {
	network.deny == {"request contains an SSN-like number"} with input as post({"text": "my ssn is 123-45-6789"})
}

test_card_denied if {
	network.deny == {"request contains a card-like number"} with input as post({"text": "4111-1111-1111-1111"})
	network.deny == {"request contains a card-like number"} with input as post("4111111111111111")
}

test_email_denied if {
	network.deny == {"request contains an email address"} with input as post({"to": "jane.doe@example.com"})
}

test_query_string_checked if {
	i := object.union(post(null), {"request": {"query": {"email": ["jane@example.com"]}}})
	"request contains an email address" in network.deny with input as i
}

test_dates_are_not_ssns if {
	count(network.deny) == 0 with input as post({"text": "meeting on 2026-03-20"})
}
