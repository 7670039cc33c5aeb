# Rule 9: backslash substitution.
puts "a\tb"
puts "1\n2"
puts "back\\slash"
puts "q\"q"
puts "\$notvar"
puts "\[notcmd\]"
puts "\{\}"
puts "\x41\x42\x43"
puts "\x414"
puts "\u00e9t\u00e9"
puts "\101\102"
puts "\777"
puts "\q\w"
puts "\xg"
puts [string length "\u0041\U0001F600"]
puts [string length "\a\b\f\v\r"]
puts [string length "\0"]
