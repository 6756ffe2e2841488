package dev.vecnorm.io;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPInputStream;

/**
 * Reader for the IDX files of MNIST and Fashion-MNIST (big-endian header: magic {@code 0x0000 08 NN},
 * NN dimensions, then unsigned bytes), plain or gzipped.
 */
public final class Idx {
  private Idx() {}

  /**
   * An IDX tensor of unsigned bytes.
   *
   * @param dims the tensor's dimensions, outermost first (for images {@code [count, rows, cols]})
   * @param values the elements, row-major, one unsigned byte each (read with {@code & 0xff})
   */
  public record Data(int[] dims, byte[] values) {
    /**
     * Number of samples: the first dimension.
     *
     * @return {@code dims[0]}
     */
    public int count() {
      return dims[0];
    }
  }

  /**
   * Reads an IDX file, gzipped or not.
   *
   * @param file the file
   * @return the dimensions and bytes read
   * @throws IOException if the file cannot be read or is not a well-formed IDX file of unsigned bytes
   */
  public static Data read(Path file) throws IOException {
    try (InputStream in = Files.newInputStream(file)) {
      return read(in, file.toString());
    }
  }

  /**
   * Reads from a stream; gzip is detected by its magic bytes. {@code source} names the input in errors.
   *
   * @param raw the IDX bytes, gzipped or not; not closed
   * @param source names the input in error messages (for example the file name)
   * @return the dimensions and bytes read
   * @throws IOException if the stream cannot be read, or is not a well-formed IDX file of unsigned bytes
   */
  public static Data read(InputStream raw, String source) throws IOException {
    BufferedInputStream buffered = new BufferedInputStream(raw, 1 << 16);
    buffered.mark(2);
    int b0 = buffered.read(), b1 = buffered.read();
    buffered.reset();
    InputStream in = (b0 == 0x1f && b1 == 0x8b) ? new BufferedInputStream(new GZIPInputStream(buffered), 1 << 16) : buffered;
    DataInputStream data = new DataInputStream(in);
    try {
      int magic = data.readInt();
      if ((magic >>> 8) != 0x08 || (magic & 0xff) < 1 || (magic & 0xff) > 4) {
        throw new IOException(source + " is not an IDX file of unsigned bytes (magic 0x" + Integer.toHexString(magic) + ")");
      }
      int[] dims = new int[magic & 0xff];
      long size = 1;
      for (int i = 0; i < dims.length; i++) {
        dims[i] = data.readInt();
        if (dims[i] < 0) throw new IOException(source + ": negative dimension " + dims[i]);
        size *= dims[i];
      }
      if (size > Integer.MAX_VALUE) throw new IOException(source + ": " + size + " values is too large");
      // readNBytes grows with what arrives: a damaged header cannot make us allocate what the file does not hold.
      byte[] values = data.readNBytes((int) size);
      if (values.length < size) {
        throw new IOException(source + " is truncated: the header announces " + size + " bytes of values, found " + values.length);
      }
      return new Data(dims, values);
    } catch (EOFException e) {
      throw new IOException(source + " is truncated in its header", e);
    }
  }
}
