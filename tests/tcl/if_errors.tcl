foreach s {
    {if}
    {if 1}
    {if 1 then}
    {if 0 {} else}
    {if 0 {} elseif}
    {if 0 {} elseif 1}
    {if 0 {set a 1} foo bar}
    {if 0 {} else {} extra}
    {if {"abc"} {}}
    {if {""} {}}
    {if abc {}}
} {
    catch $s m
    puts "$s => $m"
}
