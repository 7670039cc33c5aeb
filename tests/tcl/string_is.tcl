foreach {class value} {
    integer 12 integer abc integer " 12 " integer "" integer 99999999999999999999 entier 99999999999999999999
    double 1.5 double 1e3 double abc boolean yes boolean maybe true yes false 0 alpha abc alpha a1
    alnum a1 digit 123 digit 12a space " " upper ABC lower abc xdigit ff xdigit fg list {a b} list "a \{b"
    wordchar a_1 ascii abc
} {
    puts "$class $value: [string is $class $value]"
}
puts [string is integer -strict ""]
puts [string is alpha -strict ""]
puts [catch {string is foo x} m]
puts $m
