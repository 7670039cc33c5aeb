proc f {} { break }
f
