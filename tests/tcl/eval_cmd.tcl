puts [eval set a 5]
puts [eval {set b 6}]
puts [eval {set a 1} {;} {set b 2}]
puts [eval "set c {1 2}"]
puts [eval [list set d "x y"]]
set cmd {string toupper}
puts [eval $cmd abc]
puts [eval list a {b c}]
puts [catch {eval} m]
puts $m
set script {set total 0; foreach i {1 2 3} { incr total $i }; set total}
puts [eval $script]
