set l {}
lappend l a
lappend l "b c" d
puts $l
puts [lappend l]
set x "a  b"
puts [lappend x c]
puts [lappend newvar x y]
puts [linsert {a b} 1 X]
puts [linsert {a b} end X Y]
puts [linsert {a b} 0 X]
puts [lreplace {a b c} 1 1 X Y]
puts [lreplace {a b c} 0 0]
puts [lreplace {a b c} 5 5 X]
puts [lreverse {a {b c} d}]
puts [lassign {a b c} x y]
puts "$x $y"
puts [lassign {a} p q]
puts "<$q>"
