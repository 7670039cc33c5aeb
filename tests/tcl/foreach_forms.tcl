foreach x {a b c} { puts -nonewline $x }
puts ""
foreach {k v} {one 1 two 2 three} { puts "$k=$v" }
foreach a {1 2 3} b {x y} { puts "$a$b" }
foreach x {} { puts never }
foreach x {1 2 3} { if {$x == 2} break }
puts "x=$x"
foreach {a b} {1 2 3 4} { lappend pairs "$a+$b" }
puts $pairs
puts [catch {foreach {} {1} {}} m]
puts $m
puts [catch {foreach x} m]
puts $m
puts [catch {foreach x "a \{" {}} m]
puts $m
