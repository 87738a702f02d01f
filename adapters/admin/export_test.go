package admin

import "io/fs"

// ConsoleFS is the console's embedded files, for the tests.
func ConsoleFS() fs.FS {
	sub, err := fs.Sub(consoleFS, "console")
	if err != nil {
		panic(err)
	}
	return sub
}
