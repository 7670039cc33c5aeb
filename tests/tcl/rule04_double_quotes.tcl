# Rule 4: double quotes: substitution happens, ; and ] and braces and spaces are literal.
set name World
puts "Hello, $name!"
puts "a;b"
puts "tab\there"
puts "{braces} stay"
puts "brackets: [string length abc]"
puts "a \"quoted\" word"
puts "close ] bracket"
puts "$name$name"
puts ""
