package output

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/flowfabric/ffdelay/internal/model"
)

// jsonMarshal encodes without escaping <, > and & (lane names may hold them).
func jsonMarshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// appendResult appends r as jsonMarshal would encode it, without
// reflection: a promote run writes one per execution (encoding/json was a
// tenth of a 100k run's CPU). TestAppendResultAsEncodingJSON and
// FuzzAppendResult hold the two to the same bytes.
func appendResult(dst []byte, r model.Result) []byte {
	return appendResultFields(append(dst, '{'), r)
}

// appendResultFields is appendResult after its opening brace (an NDJSON
// line puts its type first).
func appendResultFields(dst []byte, r model.Result) []byte {
	dst = append(dst, `"partition":`...)
	dst = strconv.AppendInt(dst, int64(r.Partition), 10)
	dst = append(dst, `,"lane":`...)
	dst = appendJSONString(dst, r.Lane)
	dst = append(dst, `,"execution_id":`...)
	dst = appendJSONString(dst, r.ExecutionID)
	dst = append(dst, `,"outcome":`...)
	dst = appendJSONString(dst, string(r.Outcome))
	if r.Reason != "" {
		dst = append(dst, `,"reason":`...)
		dst = appendJSONString(dst, r.Reason)
	}
	if r.Error != "" {
		dst = append(dst, `,"error":`...)
		dst = appendJSONString(dst, r.Error)
	}
	return append(dst, '}')
}

// appendJSONString appends s quoted: as is when it is printable ASCII
// without a quote or backslash (every id, lane and outcome ffdelay writes
// in practice), through encoding/json otherwise (control characters,
// invalid UTF-8, U+2028 and U+2029 are escaped there).
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' {
			b, err := jsonMarshal(s)
			if err != nil {
				// A string always encodes; keep the document valid anyway.
				return append(dst, `""`...)
			}
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}
