package blobs

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"path"
	"strings"
)

// Media types of the office formats the upload sniffer recognises.
const (
	TypeDoc  = "application/msword"
	TypeXls  = "application/vnd.ms-excel"
	TypePpt  = "application/vnd.ms-powerpoint"
	TypeDocx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
	TypeXlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	TypePptx = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
)

// oleMagic starts every OLE compound file: legacy .doc, .xls and .ppt.
var oleMagic = []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}

// SniffType names the media type of content from its bytes:
// http.DetectContentType, plus the office formats it does not know. Those are
// recognised by container and extension together: an OLE compound file named
// .doc, .xls or .ppt, and a ZIP named .docx, .xlsx or .pptx whose directory holds
// the format's main part. The extension alone never decides.
func SniffType(content io.ReaderAt, size int64, filename string) string {
	head := make([]byte, 512)
	n, _ := content.ReadAt(head, 0)
	head = head[:n]
	ext := strings.ToLower(path.Ext(filename))
	switch {
	case bytes.HasPrefix(head, oleMagic):
		switch ext {
		case ".doc":
			return TypeDoc
		case ".xls":
			return TypeXls
		case ".ppt":
			return TypePpt
		}
		return "application/x-ole-storage"
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		if t := officeOpenXMLType(content, size, ext); t != "" {
			return t
		}
		return "application/zip"
	}
	return http.DetectContentType(head)
}

// officeOpenXMLMainParts is the part each Office Open XML format must hold.
var officeOpenXMLMainParts = map[string]struct{ part, mediaType string }{
	".docx": {"word/document.xml", TypeDocx},
	".xlsx": {"xl/workbook.xml", TypeXlsx},
	".pptx": {"ppt/presentation.xml", TypePptx},
}

// maxZipDirectory bounds the ZIP directories the sniffer reads: an office file's
// has dozens of entries in a few kilobytes, and listing a crafted directory of
// millions of entries or of huge names would cost memory.
const (
	MaxZipEntries   = 10000
	maxZipDirectory = 1 << 20
)

// officeOpenXMLType returns the media type of an Office Open XML file whose
// extension and content agree, or "".
func officeOpenXMLType(content io.ReaderAt, size int64, ext string) string {
	want, ok := officeOpenXMLMainParts[ext]
	if !ok || !smallZipDirectory(content, size) {
		return ""
	}
	zr, err := zip.NewReader(content, size)
	if err != nil {
		return ""
	}
	var types, main bool
	for _, f := range zr.File {
		types = types || f.Name == "[Content_Types].xml"
		main = main || f.Name == want.part
	}
	if types && main {
		return want.mediaType
	}
	return ""
}

// smallZipDirectory reads a ZIP's end-of-central-directory record, without the
// directory, and reports whether the directory is small enough to list. Anything
// unreadable, and ZIP64, is not.
func smallZipDirectory(content io.ReaderAt, size int64) bool {
	const eocdLen, maxComment = 22, 65535
	tailLen := min(size, eocdLen+maxComment)
	tail := make([]byte, tailLen)
	if _, err := content.ReadAt(tail, size-tailLen); err != nil && !errors.Is(err, io.EOF) {
		return false
	}
	i := bytes.LastIndex(tail, []byte("PK\x05\x06"))
	if i < 0 || len(tail)-i < eocdLen {
		return false
	}
	entries := binary.LittleEndian.Uint16(tail[i+10:])
	dirSize := binary.LittleEndian.Uint32(tail[i+12:])
	return entries != 0xFFFF && entries <= MaxZipEntries && dirSize != 0xFFFFFFFF && dirSize <= maxZipDirectory
}
