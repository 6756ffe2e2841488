package dev.vecnorm.keras;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A minimal HDF5 writer: groups, contiguous little-endian float32 datasets, and scalar UTF-8 string
 * attributes. It writes what Keras 3's {@code model.weights.h5} holds, in the encoding h5py gives it
 * with the HDF5 library's default ("earliest") format, so the file is read by jhdf, by the HDF5 C
 * library ({@code h5dump}, h5py) and therefore by Keras, and dumps like the file Keras writes.
 *
 * <p>Why our own: jhdf 0.9.4 (and 0.13.0, the newest on Maven Central when this was written) corrupts a
 * file when an empty group follows a sibling group holding a dataset, and Keras writes such empty groups
 * (the model's own root {@code vars}, which Keras's loader opens unguarded, and each weightless layer's
 * {@code vars}). jhdf is still the reader.
 *
 * <p>What is written, with the sections of the "HDF5 File Format Specification Version 3.0":
 * <ul>
 *   <li>II.A superblock version 0, 8-byte offsets and lengths, root group symbol table entry;</li>
 *   <li>every group an "old-style" symbol-table group: an object header (IV.A.1.a, version 1) holding a
 *       Symbol Table Message (type 0x0011) that points to a version 1 B-tree of type 0 (III.A.1), whose
 *       one level-0 node points to Group Symbol Table Nodes "SNOD" (III.B) of Symbol Table Entries (III.C),
 *       and a Local Heap (III.D) holding the link names;</li>
 *   <li>every dataset an object header with a Dataspace (0x0001, version 1), Datatype (0x0003, IEEE
 *       float32 LE), Fill Value (0x0005, version 2) and Data Layout (0x0008, version 3, contiguous) message;
 *       the raw data follows all metadata;</li>
 *   <li>attributes: Attribute Message (0x000C, version 1), datatype variable-length UTF-8 string,
 *       scalar dataspace; the string itself lives in one Global Heap collection "GCOL" (III.E).</li>
 * </ul>
 * Not written (Keras's weights files need none): chunking, filters, compound/integer datasets, links
 * other than hard links, object modification times, free-space tracking.
 *
 * <p>Layout: {@code [superblock][global heap][group and dataset metadata, depth first][raw data]}. One
 * pass assigns every address, a second writes the metadata into a buffer, then the raw data is streamed.
 */
final class Hdf5Writer {
  private Hdf5Writer() {}

  /** HDF5 compares link names as C strings ({@code strcmp}): by unsigned UTF-8 bytes, not UTF-16 units. */
  static final Comparator<String> NAME_ORDER = (a, b) -> Arrays.compareUnsigned(utf8(a), utf8(b));

  /** A group: children in HDF5's name order, string attributes in insertion order. */
  static final class Group {
    final TreeMap<String, Object> children = new TreeMap<>(NAME_ORDER);
    final Map<String, String> attributes = new LinkedHashMap<>();
    // Addresses, set by the layout pass.
    long header, btree, heap, heapData;
    long[] snods;
    int heapSize;

    /** The child group {@code name}, created if absent. */
    Group group(String name) {
      checkName(name);
      Object o = children.computeIfAbsent(name, k -> new Group());
      if (!(o instanceof Group g)) throw new IllegalArgumentException("'" + name + "' is already a dataset");
      return g;
    }

    /** A float32 dataset of {@code shape} holding {@code data} in row-major order (not copied). */
    void dataset(String name, int[] shape, float[] data) {
      checkName(name);
      long n = 1;
      for (int d : shape) {
        if (d < 0) throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " of '" + name + "' has a negative dimension");
        n *= d;
      }
      if (n != data.length) {
        throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " of '" + name + "' holds " + n + " values, data has " + data.length);
      }
      if (children.putIfAbsent(name, new Dataset(shape.clone(), data)) != null) throw new IllegalArgumentException("'" + name + "' exists already");
    }

    void attribute(String name, String value) {
      checkName(name);
      attributes.put(name, value);
    }
  }

  static final class Dataset {
    final int[] shape;
    final float[] data;
    long header, address;

    Dataset(int[] shape, float[] data) {
      this.shape = shape;
      this.data = data;
    }
  }

  private static void checkName(String name) {
    if (name.isEmpty() || name.contains("/") || name.indexOf(0) >= 0 || name.equals(".")) {
      throw new IllegalArgumentException("HDF5 link name '" + name + "': expected a non-empty name without '/' or NUL");
    }
  }

  // ---------------------------------------------------------------- sizes (bytes)

  /** "Undefined address" (II.A): all bits set. */
  private static final long UNDEFINED = -1L;
  /** Size of offsets and of lengths in this file (superblock fields). */
  private static final int O = 8;
  /** III.C: link name offset, object header address, cache type, reserved, 16-byte scratch pad. */
  private static final int SYMBOL_ENTRY = 2 * O + 4 + 4 + 16;
  /** II.A version 0: signature, 8 version/size bytes, the two K, flags, 4 addresses, the root's entry. */
  private static final int SUPERBLOCK = 8 + 8 + 4 + 4 + 4 * O + SYMBOL_ENTRY;
  /** Group Leaf Node K: an SNOD holds up to 2K entries (the library's default, as in Keras's files). */
  private static final int LEAF_K = 4;
  private static final int SNOD_SIZE = 8 + 2 * LEAF_K * SYMBOL_ENTRY;
  /** Object header version 1 prefix: 12 bytes, padded to 16 so messages are 8-aligned. */
  private static final int OH_PREFIX = 16;
  private static final int MSG_HEADER = 8;
  private static final int STAB_MSG = 2 * O;
  private static final int FLOAT_TYPE = 8 + 12;
  private static final int VLEN_STRING_TYPE = 8 + 12;
  private static final int SCALAR_SPACE = 8;
  private static final int VLEN_REF = 4 + O + 4;
  private static final int LOCAL_HEAP_HEADER = 4 + 4 + 3 * O;
  private static final int GCOL_HEADER = 8 + O;
  private static final int GCOL_OBJECT_HEADER = 8 + O;
  /** The HDF5 library reads a global heap collection speculatively as 4096 bytes (H5HG_MINSIZE). */
  private static final int GCOL_MIN = 4096;

  private static int pad8(int n) {
    return (n + 7) & ~7;
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static int attributeMessage(String name) {
    return 8 + pad8(utf8(name).length + 1) + pad8(VLEN_STRING_TYPE) + pad8(SCALAR_SPACE) + VLEN_REF;
  }

  private static int groupHeaderSize(Group g) {
    int n = MSG_HEADER + STAB_MSG;
    for (String a : g.attributes.keySet()) n += MSG_HEADER + attributeMessage(a);
    return n;
  }

  private static int datasetHeaderSize(Dataset d) {
    int rank = d.shape.length;
    return MSG_HEADER + 8 + 2 * rank * O // dataspace with maximum dimensions
        + MSG_HEADER + pad8(FLOAT_TYPE) + MSG_HEADER + 8 // fill value, version 2
        + MSG_HEADER + pad8(2 + 2 * O); // contiguous layout
  }

  // ---------------------------------------------------------------- the file

  /** State of one write: the B-tree node size, the global heap and the address counter. */
  private static final class Layout {
    final int internalK;
    final int btreeSize;
    final List<String> strings = new ArrayList<>();
    final List<Dataset> datasets = new ArrayList<>();
    long gcol;
    int gcolSize;
    long next;
    long metadataEnd, end;

    Layout(int internalK) {
      this.internalK = internalK;
      // III.A.1: 24-byte header, 2K+1 keys (a heap offset each), 2K child addresses, always allocated in full.
      this.btreeSize = 8 + 2 * O + (2 * internalK + 1) * O + 2 * internalK * O;
    }
  }

  /** Writes the file whose root group is {@code root} to {@code out}; returns the number of bytes. */
  static long write(Group root, OutputStream out) throws IOException {
    // One level-0 B-tree node per group points to all its SNODs; Group Internal Node K (a superblock
    // field) is raised above the library's 16 only when a group has more than 32 * 8 children.
    int maxSnods = Math.max(1, maxSnods(root));
    Layout l = new Layout(Math.max(16, (maxSnods + 1) / 2));
    l.next = SUPERBLOCK;
    collectStrings(root, l.strings);
    // A heap ID's index is 16 bits in the object's header (III.E): one collection holds up to 65535.
    if (l.strings.size() > 0xffff) throw new IllegalArgumentException("more than 65535 string attributes: " + l.strings.size());
    l.gcol = l.next;
    int used = GCOL_HEADER;
    for (String s : l.strings) used += GCOL_OBJECT_HEADER + pad8(utf8(s).length);
    l.gcolSize = pad8(Math.max(GCOL_MIN, used));
    l.next += l.gcolSize;
    place(root, l);
    l.metadataEnd = l.next;
    for (Dataset d : l.datasets) {
      // A dataset with no elements has no storage: its address stays undefined (IV.A.2, Data Layout).
      d.address = d.data.length == 0 ? UNDEFINED : l.next;
      l.next += 4L * d.data.length;
    }
    l.end = l.next;
    if (l.metadataEnd > Integer.MAX_VALUE - 8) throw new IllegalArgumentException("HDF5 metadata over 2 GiB: too many groups");

    ByteBuffer b = ByteBuffer.allocate((int) l.metadataEnd).order(ByteOrder.LITTLE_ENDIAN);
    superblock(b, root, l);
    globalHeap(b, l);
    int[] stringIndex = {1};
    emit(root, b, l, stringIndex);
    out.write(b.array());
    // Raw data, in the order the layout placed it, as float32 little endian.
    ByteBuffer chunk = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
    for (Dataset d : l.datasets) {
      for (float v : d.data) {
        if (!chunk.hasRemaining()) {
          out.write(chunk.array(), 0, chunk.position());
          chunk.clear();
        }
        chunk.putFloat(v);
      }
    }
    out.write(chunk.array(), 0, chunk.position());
    return l.end;
  }

  private static int maxSnods(Group g) {
    int m = snodCount(g);
    for (Object c : g.children.values()) if (c instanceof Group child) m = Math.max(m, maxSnods(child));
    return m;
  }

  private static int snodCount(Group g) {
    return (g.children.size() + 2 * LEAF_K - 1) / (2 * LEAF_K);
  }

  /** Attribute strings in the order {@link #emit} visits them: that order gives their heap indices. */
  private static void collectStrings(Group g, List<String> out) {
    out.addAll(g.attributes.values());
    for (Object c : g.children.values()) if (c instanceof Group child) collectStrings(child, out);
  }

  /** Assigns addresses: a group's header, B-tree node, local heap and SNODs, then its children, depth first. */
  private static void place(Group g, Layout l) {
    g.header = l.next;
    l.next += OH_PREFIX + groupHeaderSize(g);
    g.btree = l.next;
    l.next += l.btreeSize;
    // III.D: the data segment holds the empty string at offset 0 (the B-tree's first key) and each
    // link name NUL-terminated, padded to 8 bytes.
    int size = 8;
    for (String name : g.children.keySet()) size += pad8(utf8(name).length + 1);
    g.heapSize = size;
    g.heap = l.next;
    g.heapData = l.next + LOCAL_HEAP_HEADER;
    l.next += LOCAL_HEAP_HEADER + size;
    g.snods = new long[snodCount(g)];
    for (int i = 0; i < g.snods.length; i++) {
      g.snods[i] = l.next;
      l.next += SNOD_SIZE;
    }
    for (Object c : g.children.values()) {
      if (c instanceof Group child) {
        place(child, l);
      } else {
        Dataset d = (Dataset) c;
        d.header = l.next;
        l.next += OH_PREFIX + datasetHeaderSize(d);
        l.datasets.add(d);
      }
    }
  }

  /** II.A, superblock version 0. */
  private static void superblock(ByteBuffer b, Group root, Layout l) {
    b.put(KerasModels.HDF5_MAGIC);
    b.put((byte) 0); // superblock version
    b.put((byte) 0); // free-space storage version
    b.put((byte) 0); // root group symbol table entry version
    b.put((byte) 0); // reserved
    b.put((byte) 0); // shared header message format version
    b.put((byte) O); // size of offsets
    b.put((byte) O); // size of lengths
    b.put((byte) 0); // reserved
    b.putShort((short) LEAF_K);
    b.putShort((short) l.internalK);
    b.putInt(0); // file consistency flags
    b.putLong(0); // base address
    b.putLong(UNDEFINED); // free-space info: none
    b.putLong(l.end); // end of file address
    b.putLong(UNDEFINED); // driver information block: none
    symbolEntry(b, 0, root);
  }

  /**
   * III.C: link name offset in the parent's local heap, object header address, and the cache: type 1
   * with the B-tree and heap addresses for a group (the library writes them so and checks them against
   * the group's Symbol Table Message), type 0 for a dataset.
   */
  private static void symbolEntry(ByteBuffer b, long nameOffset, Object o) {
    b.putLong(nameOffset);
    if (o instanceof Group g) {
      b.putLong(g.header);
      b.putInt(1);
      b.putInt(0);
      b.putLong(g.btree);
      b.putLong(g.heap);
    } else {
      b.putLong(((Dataset) o).header);
      b.putInt(0);
      b.putInt(0);
      b.putLong(0);
      b.putLong(0);
    }
  }

  /**
   * III.E: one collection. Each object: index (from 1), reference count, reserved, size, then the bytes
   * padded to 8. The rest is object 0, the free space, whose size field counts its own header.
   */
  private static void globalHeap(ByteBuffer b, Layout l) {
    b.position((int) l.gcol);
    b.put(new byte[] {'G', 'C', 'O', 'L', 1, 0, 0, 0});
    b.putLong(l.gcolSize);
    int index = 1;
    for (String s : l.strings) {
      byte[] bytes = utf8(s);
      b.putShort((short) index++);
      b.putShort((short) 0); // reference count: h5py's strings carry 0 too
      b.putInt(0);
      b.putLong(bytes.length);
      b.put(bytes);
      b.position(b.position() + pad8(bytes.length) - bytes.length);
    }
    int free = (int) (l.gcol + l.gcolSize - b.position());
    if (free >= GCOL_OBJECT_HEADER) {
      b.putShort((short) 0);
      b.putShort((short) 0);
      b.putInt(0);
      b.putLong(free);
    }
  }

  private static void emit(Group g, ByteBuffer b, Layout l, int[] stringIndex) {
    // Object header, version 1 (IV.A.1.a): version, reserved, message count, reference count, size of
    // the message data, then 4 bytes of padding.
    b.position((int) g.header);
    objectHeaderPrefix(b, 1 + g.attributes.size(), groupHeaderSize(g));
    message(b, 0x0011, STAB_MSG, 0); // Symbol Table Message: B-tree and local heap addresses
    b.putLong(g.btree);
    b.putLong(g.heap);
    for (Map.Entry<String, String> a : g.attributes.entrySet()) {
      attribute(b, a.getKey(), utf8(a.getValue()).length, l.gcol, stringIndex[0]++);
    }

    // III.D local heap: signature, version 0, reserved, data segment size, free list head, data address.
    // The free list is empty: the library marks that with offset 1 (H5HL_FREE_NULL), not the undefined
    // address, and rejects any head at or past the segment's end.
    b.position((int) g.heap);
    b.put(new byte[] {'H', 'E', 'A', 'P', 0, 0, 0, 0});
    b.putLong(g.heapSize);
    b.putLong(1);
    b.putLong(g.heapData);
    long[] nameOffsets = new long[g.children.size()];
    int at = 8; // offset 0: the empty string
    int k = 0;
    for (String name : g.children.keySet()) {
      nameOffsets[k++] = at;
      b.position((int) (g.heapData + at));
      b.put(utf8(name));
      at += pad8(utf8(name).length + 1);
    }

    // III.A.1 B-tree node, type 0 (group), level 0: key i is the heap offset of the largest name in
    // child i-1 (key 0 the empty string), so the library's binary search finds the SNOD of a name.
    b.position((int) g.btree);
    b.put(new byte[] {'T', 'R', 'E', 'E', 0, 0});
    b.putShort((short) g.snods.length);
    b.putLong(UNDEFINED); // left sibling
    b.putLong(UNDEFINED); // right sibling
    b.putLong(0);
    for (int i = 0; i < g.snods.length; i++) {
      b.putLong(g.snods[i]);
      b.putLong(nameOffsets[Math.min(nameOffsets.length, (i + 1) * 2 * LEAF_K) - 1]);
    }

    // III.B: each SNOD holds up to 2K entries in name order.
    List<Object> children = new ArrayList<>(g.children.values());
    for (int i = 0; i < g.snods.length; i++) {
      b.position((int) g.snods[i]);
      int from = i * 2 * LEAF_K, to = Math.min(children.size(), from + 2 * LEAF_K);
      b.put(new byte[] {'S', 'N', 'O', 'D', 1, 0});
      b.putShort((short) (to - from));
      for (int j = from; j < to; j++) symbolEntry(b, nameOffsets[j], children.get(j));
    }

    for (Object c : g.children.values()) {
      if (c instanceof Group child) emit(child, b, l, stringIndex);
      else dataset(b, (Dataset) c);
    }
  }

  private static void objectHeaderPrefix(ByteBuffer b, int messages, int size) {
    b.put((byte) 1);
    b.put((byte) 0);
    b.putShort((short) messages);
    b.putInt(1); // reference count: one hard link
    b.putInt(size);
    b.putInt(0);
  }

  /** A message header (IV.A.1.a): type, size of the (8-aligned) data, flags, 3 reserved bytes. */
  private static void message(ByteBuffer b, int type, int size, int flags) {
    b.putShort((short) type);
    b.putShort((short) size);
    b.put((byte) flags);
    b.put(new byte[3]);
  }

  /** Message flag bit 0: the message is constant (the library sets it on datatype and fill value). */
  private static final int CONSTANT = 1;

  private static void dataset(ByteBuffer b, Dataset d) {
    int rank = d.shape.length;
    b.position((int) d.header);
    objectHeaderPrefix(b, 4, datasetHeaderSize(d));
    // Dataspace, version 1: version, rank, flags (bit 0: maximum dimensions present), 5 reserved bytes,
    // the dimensions, then the maximum dimensions (equal: not extendible).
    message(b, 0x0001, 8 + 2 * rank * O, 0);
    b.put((byte) 1);
    b.put((byte) rank);
    b.put((byte) (rank > 0 ? 1 : 0)); // rank 0 is a scalar (version 1 has no type field)
    b.put(new byte[5]);
    for (int i = 0; i < 2 * rank; i++) b.putLong(d.shape[i % rank]);
    message(b, 0x0003, pad8(FLOAT_TYPE), CONSTANT);
    floatType(b);
    b.put(new byte[pad8(FLOAT_TYPE) - FLOAT_TYPE]);
    // Fill value, version 2: allocation time late (2), fill time "if set" (2), fill value defined with
    // size 0, i.e. the library default: what h5py writes.
    message(b, 0x0005, 8, CONSTANT);
    b.put(new byte[] {2, 2, 2, 1});
    b.putInt(0);
    // Data layout, version 3, class 1 (contiguous): address and size of the raw data.
    message(b, 0x0008, pad8(2 + 2 * O), 0);
    b.put((byte) 3);
    b.put((byte) 1);
    b.putLong(d.address);
    b.putLong(4L * d.data.length);
    b.put(new byte[pad8(2 + 2 * O) - (2 + 2 * O)]);
  }

  /**
   * Datatype message, class 1 (floating point), version 1: little endian, implied mantissa MSB
   * (bits 4-5 = 2), sign at bit 31; size 4; bit offset 0, precision 32, exponent at 23 of 8 bits,
   * mantissa at 0 of 23 bits, exponent bias 127. IEEE 754 binary32 (H5T_IEEE_F32LE).
   */
  private static void floatType(ByteBuffer b) {
    b.put(new byte[] {0x11, 0x20, 31, 0});
    b.putInt(4);
    b.putShort((short) 0);
    b.putShort((short) 32);
    b.put(new byte[] {23, 8, 0, 23});
    b.putInt(127);
  }

  /**
   * Attribute message, version 1: version, reserved, name size (with its NUL), datatype size,
   * dataspace size, then name, datatype and dataspace each padded to 8, then the value. The datatype is
   * class 9 (variable length) of type string, NUL-terminated, UTF-8 (bits 0x01, 0x01), size 16, whose base
   * type is an unsigned 8-bit integer, as the library encodes a variable-length string. The dataspace is
   * scalar (version 1, rank 0). The value is the string's byte length and its global heap ID
   * (collection address, object index).
   */
  private static void attribute(ByteBuffer b, String name, int valueLength, long gcol, int index) {
    byte[] n = utf8(name);
    message(b, 0x000C, attributeMessage(name), 0);
    b.put((byte) 1);
    b.put((byte) 0);
    b.putShort((short) (n.length + 1));
    b.putShort((short) VLEN_STRING_TYPE);
    b.putShort((short) SCALAR_SPACE);
    b.put(n);
    b.put(new byte[pad8(n.length + 1) - n.length]);
    b.put(new byte[] {0x19, 0x01, 0x01, 0});
    b.putInt(VLEN_REF);
    b.put(new byte[] {0x10, 0, 0, 0}); // base: integer, version 1, little endian, unsigned
    b.putInt(1);
    b.putShort((short) 0);
    b.putShort((short) 8);
    b.put(new byte[pad8(VLEN_STRING_TYPE) - VLEN_STRING_TYPE]);
    b.put(new byte[] {1, 0, 0, 0, 0, 0, 0, 0}); // scalar dataspace
    b.putInt(valueLength);
    b.putLong(gcol);
    b.putInt(index);
  }
}
