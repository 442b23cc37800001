//go:build !unix

package local_test

import "errors"

func mkfifo(string) error { return errors.New("named pipes are a Unix thing") }
