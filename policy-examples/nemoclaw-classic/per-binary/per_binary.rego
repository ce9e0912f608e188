# Per-binary egress (Rego v1): a binary may reach only its own hosts (globs) with its own methods.
# Binaries not listed, and requests whose binary is unknown (null), are denied.
package nemoclaw.network

default allow := false

rules := data.binaries[input.source.binary]

allow if {
	some pattern in rules.hosts
	glob.match(pattern, ["."], input.request.host)
	input.request.method in rules.methods
}

deny_reason contains msg if {
	not data.binaries[input.source.binary]
	msg := sprintf("binary %v has no network access", [input.source.binary])
}

deny_reason contains msg if {
	rules
	not host_listed
	msg := sprintf("%s may not reach %s", [input.source.binary, input.request.host])
}

host_listed if {
	some pattern in rules.hosts
	glob.match(pattern, ["."], input.request.host)
}
