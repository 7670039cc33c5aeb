puts hello
puts -nonewline "no newline"
puts ""
puts stdout to-stdout
puts -nonewline stdout x
puts stdout y
puts -nonewline
puts [catch {puts a b c d} m]
puts $m
puts [catch {puts nochan text} m]
puts $m
