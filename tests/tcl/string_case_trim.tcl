puts [string toupper hello]
puts [string tolower HELLO]
puts [string toupper hello 1]
puts [string toupper hello 1 3]
puts [string tolower HELLO end]
puts [string totitle hELLO]
puts "<[string trim "  a b  "]>"
puts "<[string trim xxaxx x]>"
puts "<[string trimleft "  a  "]>"
puts "<[string trimright "  a  "]>"
puts "<[string trim "\t\n x \r\n"]>"
puts "<[string trimleft abcba ab]>"
puts "<[string trimright abcba ab]>"
