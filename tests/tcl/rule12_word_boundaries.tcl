# Rule 12: substitution never changes word boundaries; a substituted value is one word.
set x "a b c"
puts [llength [list $x]]
puts [llength [list [set x]]]
set semi "puts no; puts way"
puts $semi
set y {$x}
puts [llength "$y"]
set cmd "string length"
puts [catch {$cmd abc} m]
puts $m
puts [list "$x" {$x}]
