set x 5
if {$x > 3} { puts big }
if {$x > 10} { puts huge } else { puts "not huge" }
if {$x == 1} { puts one } elseif {$x == 5} { puts five } else { puts other }
if {$x == 1} then { puts one } elseif {$x == 2} then { puts two } else { puts neither }
if 0 { puts no } { puts implicit-else }
puts [if 1 { set r yes }]
puts [if 0 { set r yes }]
foreach b {yes no on off true false 1 0 2.5 0.0 YES tru} {
    if $b { puts "$b true" } else { puts "$b false" }
}
