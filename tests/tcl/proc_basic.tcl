proc add {a b} { return [expr {$a + $b}] }
puts [add 2 3]
proc greet {{who World} {punct !}} { return "Hello, $who$punct" }
puts [greet]
puts [greet Tcl]
puts [greet Tcl ?]
proc count args { return [llength $args] }
puts [count]
puts [count a b c]
proc mixed {a {b 2} args} { return "$a $b {$args}" }
puts [mixed 1]
puts [mixed 1 x y z]
proc last {} { set x 42 }
puts [last]
proc empty {} {}
puts "<[empty]>"
proc fact {n} { if {$n <= 1} { return 1 }; expr {$n * [fact [expr {$n - 1}]]} }
puts [fact 20]
proc fib {n} { if {$n < 2} { return $n }; expr {[fib [expr {$n-1}]] + [fib [expr {$n-2}]]} }
puts [fib 15]
