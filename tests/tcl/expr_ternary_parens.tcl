puts [expr {1 ? "yes" : "no"}]
puts [expr {0 ? "yes" : "no"}]
puts [expr {1 ? 2 : 3 ? 4 : 5}]
puts [expr {0 ? 2 : 0 ? 4 : 5}]
puts [expr {(1 < 2) ? [set a picked] : [set a other]}]
puts $a
puts [expr {((((7))))}]
puts [expr { 1 +
  2 }]
puts [expr 1 + 2]
puts [expr { 1 } { + 2 }]
puts [expr "1 \t+ 2"]
