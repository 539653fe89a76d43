package web

import "reflect"

// errorCount is how many errors a page's data reports: the entries of its
// Errors map and its Problem, if it has them. The layout puts the count in
// the page's title after a refused form, so the first thing a screen
// reader announces says that, and how much, went wrong.
func errorCount(page any) int {
	v := reflect.ValueOf(page)
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return 0
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return 0
	}
	n := 0
	if f := v.FieldByName("Errors"); f.IsValid() && f.Kind() == reflect.Map {
		n += f.Len()
	}
	if f := v.FieldByName("Problem"); f.IsValid() && f.Kind() == reflect.String && f.Len() > 0 {
		n++
	}
	return n
}
