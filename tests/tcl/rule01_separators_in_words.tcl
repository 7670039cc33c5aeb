# Separators only count outside braces and quotes.
set a {x; y}
puts $a
set b "p
q"
puts $b
puts [llength "1;2"]
