package nemoclaw.network_test

import data.nemoclaw.network

req(method, host) := {
	"request": {"method": method, "host": host, "port": 443, "path": "/", "headers": {}, "body": null},
	"source": {"binary": "node", "pid": 1, "sandbox_id": "ro"},
	"attestation": null,
	"timestamp": "2026-03-20T14:30:00Z",
}

test_get_allowed if {
	network.allow with input as req("GET", "api.github.com")
}

test_head_and_options_allowed if {
	network.allow with input as req("HEAD", "docs.company.com")
	network.allow with input as req("OPTIONS", "docs.company.com")
}

test_writes_denied_with_reason if {
	not network.allow with input as req("POST", "api.github.com")
	not network.allow with input as req("DELETE", "api.github.com")
	network.deny_reason == {"this agent is read-only: PUT api.github.com is a write"} with input as req("PUT", "api.github.com")
}

test_inference_post_allowed if {
	network.allow with input as req("POST", "inference.local")
	count(network.deny_reason) == 0 with input as req("POST", "inference.local")
}

test_unlisted_host_denied if {
	not network.allow with input as req("GET", "example.com")
}
