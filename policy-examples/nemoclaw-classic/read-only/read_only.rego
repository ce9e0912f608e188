# Read-only agent (Rego v1): safe methods only, to an allow-listed set of hosts.
package nemoclaw.network

default allow := false

read_hosts := {"api.github.com", "raw.githubusercontent.com", "docs.company.com", "inference.local"}

safe_methods := {"GET", "HEAD", "OPTIONS"}

allow if {
	input.request.host in read_hosts
	input.request.method in safe_methods
}

# Inference is the one host the agent may POST to: a model call changes nothing.
allow if {
	input.request.host == "inference.local"
	input.request.method == "POST"
}

deny_reason contains msg if {
	not input.request.method in safe_methods
	input.request.host != "inference.local"
	msg := sprintf("this agent is read-only: %s %s is a write", [input.request.method, input.request.host])
}
