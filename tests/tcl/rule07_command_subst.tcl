# Rule 7: [script] is replaced by the result of its last command.
puts [set a 1; set b 2]
puts x[string toupper y]z
puts [string length [string repeat ab 3]]
puts "nested: [list [list a b] c]"
puts [expr [set q 3] * [set r 4]]
puts [list [] x]
puts [
  set multi line
]
