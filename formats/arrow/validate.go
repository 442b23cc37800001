package arrow

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
)

// ValidateRecord checks that every column of rec is consistent (buffer
// sizes, null counts, offsets, dictionary indices), so that reading any
// value cannot panic. Decode runs it on every record it reads: a record
// that passes is safe to hand to code that trusts it.
//
// Fixed-width, boolean, binary and string columns (and structs, lists and
// dictionaries of them) are checked fully; for other nested layouts (unions,
// views, run-end encoded) it relies on arrow-go's own validation where
// there is one.
func ValidateRecord(rec arrow.RecordBatch) error {
	n := rec.NumRows()
	if n < 0 {
		return fmt.Errorf("record has %d rows", n)
	}
	fields := rec.Schema().Fields()
	if len(fields) != int(rec.NumCols()) {
		return fmt.Errorf("record has %d columns, its schema %d", rec.NumCols(), len(fields))
	}
	for i, col := range rec.Columns() {
		if int64(col.Len()) != n {
			return fmt.Errorf("column %s has %d rows, the record %d", fields[i].Name, col.Len(), n)
		}
		if !arrow.TypeEqual(col.DataType(), fields[i].Type) {
			return fmt.Errorf("column %s is %v, its field %v", fields[i].Name, col.DataType(), fields[i].Type)
		}
		if err := validateArray(col, 0); err != nil {
			return fmt.Errorf("column %s: %w", fields[i].Name, err)
		}
	}
	return nil
}

const maxNesting = 64

func validateArray(arr arrow.Array, depth int) error {
	if depth > maxNesting {
		return fmt.Errorf("nested deeper than %d", maxNesting)
	}
	data := arr.Data()
	off, n := data.Offset(), data.Len()
	if off < 0 || n < 0 {
		return fmt.Errorf("bad offset %d or length %d", off, n)
	}
	bufs := data.Buffers()
	dt := arr.DataType()
	switch dt.ID() {
	case arrow.NULL, arrow.SPARSE_UNION, arrow.DENSE_UNION, arrow.RUN_END_ENCODED:
		// No validity bitmap.
	default:
		if err := validateBitmap(arr, off, n); err != nil {
			return err
		}
	}
	switch a := arr.(type) {
	case *array.Boolean:
		if len(bufs) < 2 || bufs[1] == nil || int64(bufs[1].Len()) < bitutil.BytesForBits(int64(off+n)) {
			return fmt.Errorf("boolean values buffer too short for %d rows", off+n)
		}
		return nil
	case *array.Dictionary:
		dict := a.Dictionary()
		if err := validateArray(dict, depth+1); err != nil {
			return fmt.Errorf("dictionary: %w", err)
		}
		if err := validateArray(a.Indices(), depth+1); err != nil {
			return fmt.Errorf("dictionary indices: %w", err)
		}
		for i := range n {
			if a.IsValid(i) {
				if k := a.GetValueIndex(i); k < 0 || k >= dict.Len() {
					return fmt.Errorf("row %d: dictionary index %d out of range [0, %d)", i, k, dict.Len())
				}
			}
		}
		return nil
	}
	if fw, ok := dt.(arrow.FixedWidthDataType); ok && fw.BitWidth() >= 8 && dt.ID() != arrow.DICTIONARY {
		w := fw.BitWidth() / 8
		if len(bufs) < 2 || (n > 0 && (bufs[1] == nil || bufs[1].Len() < (off+n)*w)) {
			return fmt.Errorf("%v values buffer too short for %d rows", dt, off+n)
		}
		return nil
	}
	switch a := arr.(type) {
	case *array.String:
		return validateOffsets(a.Validate(), a.ValueOffsets())
	case *array.LargeString:
		return validateOffsets(a.Validate(), a.ValueOffsets())
	}
	if v, ok := arr.(interface{ ValidateFull() error }); ok {
		if err := v.ValidateFull(); err != nil {
			return err
		}
	}
	switch a := arr.(type) {
	case *array.Struct:
		for i := range a.NumField() {
			f := a.Field(i)
			if f.Len() < n {
				return fmt.Errorf("struct field %d has %d rows, the struct %d", i, f.Len(), n)
			}
			if err := validateArray(f, depth+1); err != nil {
				return fmt.Errorf("struct field %d: %w", i, err)
			}
		}
	case array.ListLike:
		if err := validateArray(a.ListValues(), depth+1); err != nil {
			return fmt.Errorf("list values: %w", err)
		}
	}
	return nil
}

func validateBitmap(arr arrow.Array, off, n int) error {
	nulls := arr.Data().NullN() // as recorded; negative: unknown, counted on demand
	if nulls > n {
		return fmt.Errorf("null count %d for %d rows", nulls, n)
	}
	bitmap := arr.NullBitmapBytes()
	if bitmap == nil {
		if nulls != 0 {
			return fmt.Errorf("null count %d without a validity bitmap", nulls)
		}
		return nil
	}
	if int64(len(bitmap)) < bitutil.BytesForBits(int64(off+n)) {
		return fmt.Errorf("validity bitmap too short for %d rows", off+n)
	}
	if nulls < 0 {
		return nil
	}
	if got := n - bitutil.CountSetBits(bitmap, off, n); got != nulls {
		return fmt.Errorf("null count %d, the validity bitmap has %d", nulls, got)
	}
	return nil
}

// validateOffsets completes arrow-go's Validate of a string array (offsets
// buffer long enough, last offset within the data) with what its
// ValidateFull checks except UTF-8: offsets start non-negative and never
// decrease. Strings that are not UTF-8 are left to the reader: Go strings
// may hold any bytes.
func validateOffsets[O int32 | int64](err error, offsets []O) error {
	if err != nil || len(offsets) == 0 {
		return err
	}
	if offsets[0] < 0 {
		return fmt.Errorf("negative string offset %d", offsets[0])
	}
	for i := 1; i < len(offsets); i++ {
		if offsets[i] < offsets[i-1] {
			return fmt.Errorf("string offsets decrease at row %d", i)
		}
	}
	return nil
}
