puts [join {a b c} ,]
puts [join {a {b c} d}]
puts [join {} ,]
puts [join {a b} ""]
puts [split "a,b,,c" ,]
puts [split "a b  c"]
puts [split abc {}]
puts [split "a.b-c" .-]
puts "<[split "" ,]>"
puts [split "a{b c" " "]
puts [concat a {b c} "  d  " {} e]
puts "<[concat]>"
puts [concat {a } { b}]
puts [concat {a b} {{c d}}]
