# Rule 8: $name, ${name}, $name(index); a $ with no name after it is literal.
set x 10
set y 20
puts $x$y
puts ${x}y
set {a b} spaced
puts ${a b}
set arr(k) value
puts $arr(k)
set i k
puts $arr($i)
puts "cost: 5$"
puts $
puts a$
puts $-x
set under_score_1 ok
puts $under_score_1
set ::g global
puts $::g
