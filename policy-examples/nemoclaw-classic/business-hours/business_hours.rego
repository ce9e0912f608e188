# Business hours (Rego v1): all egress is limited to weekdays 09:00-17:00 UTC, judged on the request's timestamp
# (set by the proxy), so tests can pin the time.
package nemoclaw.network

default allow := false

hosts := {"api.github.com", "slack.com", "api.company.com", "inference.local"}

weekdays := {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday"}

ns := time.parse_rfc3339_ns(input.timestamp)

in_business_hours if {
	time.weekday(ns) in weekdays
	[hour, _, _] := time.clock(ns)
	hour >= 9
	hour < 17
}

allow if {
	input.request.host in hosts
	in_business_hours
}

deny_reason contains "outbound requests are allowed Monday to Friday, 09:00-17:00 UTC" if {
	not in_business_hours
}
