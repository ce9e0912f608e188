package nemoclaw.network_test

import data.nemoclaw.network

at(ts) := {
	"request": {"method": "GET", "host": "api.github.com", "port": 443, "path": "/", "headers": {}, "body": null},
	"source": {"binary": "node", "pid": 1, "sandbox_id": "bh"},
	"attestation": null,
	"timestamp": ts,
}

# 2026-03-20 is a Friday, 2026-03-21 a Saturday.
test_friday_morning_allowed if {
	network.allow with input as at("2026-03-20T09:00:00Z")
	network.allow with input as at("2026-03-20T16:59:59Z")
}

test_friday_evening_denied if {
	not network.allow with input as at("2026-03-20T17:00:00Z")
	network.deny_reason == {"outbound requests are allowed Monday to Friday, 09:00-17:00 UTC"} with input as at("2026-03-20T20:00:00Z")
}

test_early_morning_denied if {
	not network.allow with input as at("2026-03-20T08:59:59Z")
}

test_weekend_denied if {
	not network.allow with input as at("2026-03-21T12:00:00Z")
}

test_unknown_host_denied_even_in_hours if {
	i := object.union(at("2026-03-20T10:00:00Z"), {"request": {"host": "example.com"}})
	not network.allow with input as i
}
