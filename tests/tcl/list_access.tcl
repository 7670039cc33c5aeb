set l {a {b c} d {e {f g}}}
puts [llength $l]
puts [lindex $l 1]
puts [lindex $l end]
puts [lindex $l end-1]
puts [lindex $l 3 1 0]
puts [lindex $l {3 1}]
puts "<[lindex $l 10]>"
puts "<[lindex $l -1]>"
puts [lindex $l]
puts [lindex {a b c} 1+1]
puts [lrange $l 1 2]
puts [lrange $l 2 end]
puts "<[lrange $l 3 1]>"
puts [lrange {a  {b}  c} 0 end]
puts [llength {}]
puts [llength "  a  b  "]
puts [lindex {"a b" c} 0]
puts [lindex {a\ b c} 0]
