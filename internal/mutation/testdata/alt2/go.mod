module example.com/alt

go 1.22
