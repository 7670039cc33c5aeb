foreach s {
    {string} {string length} {string index abc} {string range abc 1} {string map} {string toupper}
    {string trim} {string first a} {string repeat a} {string compare a} {string match a}
} {
    catch $s m
    puts $m
}
