package nemoclaw.network_test

import data.nemoclaw.network

req(binary, method, host) := {
	"request": {"method": method, "host": host, "port": 443, "path": "/", "headers": {}, "body": null},
	"source": {"binary": binary, "pid": 1, "sandbox_id": "pb"},
	"attestation": null,
	"timestamp": "2026-03-20T14:30:00Z",
}

binaries := {
	"node": {"hosts": ["api.openai.com", "slack.com"], "methods": ["GET", "POST"]},
	"python3": {"hosts": ["pypi.org", "*.internal.company.com"], "methods": ["GET"]},
}

test_node_reaches_its_hosts if {
	network.allow with input as req("node", "POST", "api.openai.com") with data.binaries as binaries
}

test_python_glob_host if {
	network.allow with input as req("python3", "GET", "billing.internal.company.com") with data.binaries as binaries
	not network.allow with input as req("python3", "GET", "internal.company.com.evil.io") with data.binaries as binaries
}

test_method_limited_per_binary if {
	not network.allow with input as req("python3", "POST", "pypi.org") with data.binaries as binaries
}

test_other_binary_hosts_denied_with_reason if {
	i := req("python3", "GET", "api.openai.com")
	not network.allow with input as i with data.binaries as binaries
	network.deny_reason == {"python3 may not reach api.openai.com"} with input as i with data.binaries as binaries
}

test_unlisted_binary_denied if {
	i := req("curl", "GET", "pypi.org")
	not network.allow with input as i with data.binaries as binaries
	network.deny_reason == {"binary curl has no network access"} with input as i with data.binaries as binaries
}

test_unknown_binary_denied if {
	i := object.union(req("node", "GET", "slack.com"), {"source": {"binary": null}})
	not network.allow with input as i with data.binaries as binaries
}
