package dev.vecnorm.keras;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jhdf.HdfFile;
import io.jhdf.api.Dataset;
import io.jhdf.api.Group;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link Hdf5Writer}'s files read by two independent readers: jhdf (always) and the HDF5 C library's
 * {@code h5dump} (when it is on the PATH, e.g. Debian's hdf5-tools; skipped otherwise). Expected values
 * are the inputs, never read from the writer.
 */
class Hdf5WriterTest {
  @TempDir Path dir;

  private Path write(Hdf5Writer.Group root) throws IOException {
    Path f = Files.createTempFile(dir, "t", ".h5");
    long n;
    try (OutputStream out = Files.newOutputStream(f)) {
      n = Hdf5Writer.write(root, out);
    }
    assertEquals(Files.size(f), n, "returned length = bytes written = superblock's end-of-file address");
    return f;
  }

  @Test
  void anEmptyGroupAfterAGroupHoldingDataReadsBack() throws IOException {
    // jhdf 0.9.4's and 0.13.0's writer corrupt exactly this file (the reason this writer exists).
    Hdf5Writer.Group root = new Hdf5Writer.Group();
    root.group("a").dataset("x", new int[] {1}, new float[] {1f});
    root.group("b").attribute("name", "bee");
    Path f = write(root);
    try (HdfFile h5 = new HdfFile(f)) {
      assertEquals(List.of("a", "b"), List.copyOf(h5.getChildren().keySet()));
      assertEquals(0, ((Group) h5.getByPath("/b")).getChildren().size());
      assertEquals("bee", h5.getByPath("/b").getAttribute("name").getData());
      assertArrayEquals(new float[] {1f}, (float[]) ((Dataset) h5.getByPath("/a/x")).getData(), 0f);
    }
    String dumped = h5dump(f, "-a", "/b/name");
    if (dumped != null) assertTrue(dumped.contains("\"bee\""), dumped);
  }

  @Test
  void valuesShapesAndSpecialFloatsRoundTripBitExactly() throws IOException {
    float[] v = {0f, -0f, 1.5f, Float.MIN_VALUE, Float.MIN_NORMAL, Float.MAX_VALUE, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN,
        (float) Math.PI, -1e-30f, 123456.78f};
    Hdf5Writer.Group root = new Hdf5Writer.Group();
    Hdf5Writer.Group g = root.group("g");
    g.dataset("m", new int[] {3, 4}, v);
    g.dataset("v", new int[] {12}, v);
    g.dataset("s", new int[] {}, new float[] {2.5f});
    g.dataset("e", new int[] {0}, new float[0]);
    g.attribute("name", "grüße, 日本");
    Path f = write(root);
    try (HdfFile h5 = new HdfFile(f)) {
      float[][] m = (float[][]) ((Dataset) h5.getByPath("/g/m")).getData();
      for (int r = 0; r < 3; r++) {
        for (int c = 0; c < 4; c++) assertEquals(Float.floatToRawIntBits(v[r * 4 + c]), Float.floatToRawIntBits(m[r][c]), "m[" + r + "][" + c + "]");
      }
      Dataset vec = (Dataset) h5.getByPath("/g/v");
      assertArrayEquals(new int[] {12}, vec.getDimensions());
      assertEquals(float.class, vec.getJavaType());
      Dataset s = (Dataset) h5.getByPath("/g/s");
      assertTrue(s.isScalar());
      assertEquals(2.5f, ((Number) s.getData()).floatValue());
      assertArrayEquals(new int[] {0}, ((Dataset) h5.getByPath("/g/e")).getDimensions());
      assertEquals("grüße, 日本", h5.getByPath("/g").getAttribute("name").getData());
    }
    // The C library: row-major values printed with 9 significant digits (enough for float32).
    List<Float> dumped = h5dumpFloats(f, "/g/m");
    if (dumped != null) {
      List<Float> expected = new ArrayList<>();
      for (float x : v) expected.add(x);
      assertEquals(expected, dumped); // Float.equals: bit patterns, so -0 and NaN count
    }
    String attr = h5dump(f, "-a", "/g/name");
    if (attr != null) {
      assertTrue(attr.contains("H5T_CSET_UTF8") && attr.contains("STRSIZE H5T_VARIABLE") && attr.contains("DATASPACE  SCALAR"), attr);
      assertTrue(unescape(attr).contains("\"grüße, 日本\""), attr);
    }
    String scalar = h5dump(f, "-d", "/g/s");
    if (scalar != null) assertTrue(scalar.contains("DATASPACE  SCALAR") && scalar.contains("2.5"), scalar);
  }

  /**
   * 300 children (38 symbol table nodes: more than one B-tree node of the library's default K = 16 holds,
   * so the superblock's K is raised), with names whose byte order is not their numeric order. The C
   * library finds a path by binary search over the B-tree keys and the sorted entries, so {@code h5dump -d}
   * on first, last and boundary names checks the order and the keys; jhdf checks every child.
   */
  @Test
  void manyChildrenSpanSeveralSymbolTableNodesAndAreFoundByName() throws IOException {
    Hdf5Writer.Group root = new Hdf5Writer.Group();
    Hdf5Writer.Group many = root.group("many");
    for (int i = 0; i < 300; i++) many.dataset("n" + i, new int[] {1}, new float[] {i});
    root.group("zz_empty");
    Path f = write(root);
    try (HdfFile h5 = new HdfFile(f)) {
      Group g = (Group) h5.getByPath("/many");
      assertEquals(300, g.getChildren().size());
      for (int i = 0; i < 300; i++) {
        assertEquals(i, ((float[]) ((Dataset) g.getChild("n" + i)).getData())[0], 0f, "n" + i);
      }
      assertInstanceOf(Group.class, h5.getByPath("/zz_empty"));
    }
    // n0 < n1 < n10 < n100 < ... < n99 as bytes: first, last, every SNOD boundary near the start and the end.
    for (int i : new int[] {0, 1, 10, 100, 101, 108, 109, 299, 3, 30, 98, 99}) {
      List<Float> got = h5dumpFloats(f, "/many/n" + i);
      if (got == null) return;
      assertEquals(List.of((float) i), got, "n" + i);
    }
  }

  @Test
  void badNamesAndShapesAreRefusedNamingThem() {
    Hdf5Writer.Group root = new Hdf5Writer.Group();
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> root.dataset("w", new int[] {2, 3}, new float[5]));
    assertTrue(e.getMessage().contains("'w'") && e.getMessage().contains("[2, 3]") && e.getMessage().contains("5"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> root.group("a/b"));
    assertTrue(e.getMessage().contains("'a/b'"), e.getMessage());
    root.dataset("d", new int[] {1}, new float[1]);
    assertThrows(IllegalArgumentException.class, () -> root.group("d"));
    assertThrows(IllegalArgumentException.class, () -> root.dataset("d", new int[] {1}, new float[1]));
  }

  // ---------------------------------------------------------------- the HDF5 C tools

  /**
   * h5dump prints each non-ASCII byte of a string as a C octal escape of the sign-extended char
   * ({@code \\37777777703} for 0xC3): back to the bytes, then UTF-8.
   */
  static String unescape(String dumped) {
    java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
    Matcher m = Pattern.compile("\\\\([0-7]+)").matcher(dumped);
    int at = 0;
    while (m.find()) {
      bytes.writeBytes(dumped.substring(at, m.start()).getBytes(StandardCharsets.UTF_8));
      bytes.write((int) (Long.parseLong(m.group(1), 8) & 0xff));
      at = m.end();
    }
    bytes.writeBytes(dumped.substring(at).getBytes(StandardCharsets.UTF_8));
    return bytes.toString(StandardCharsets.UTF_8);
  }

  /** {@code h5dump} on the PATH, or null. */
  static Path tool(String name) {
    String path = System.getenv("PATH");
    if (path == null) return null;
    for (String d : path.split(java.io.File.pathSeparator)) {
      Path p = Path.of(d, name);
      if (Files.isExecutable(p)) return p;
    }
    return null;
  }

  /** Runs {@code cmd} (stderr into stdout) and returns its output; fails the test on a non-zero exit or after 2 minutes. */
  static String run(List<String> cmd) throws IOException {
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    try {
      assertTrue(p.waitFor(120, TimeUnit.SECONDS), String.join(" ", cmd) + " timed out");
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException(e);
    }
    assertEquals(0, p.exitValue(), String.join(" ", cmd) + ":\n" + out);
    return out;
  }

  /**
   * Runs {@code h5dump args file}; its output, or null when h5dump is not installed. Fails the test on a
   * non-zero exit or an HDF5 error message (h5dump reports a corrupt file so).
   */
  static String h5dump(Path file, String... args) throws IOException {
    Path h5dump = tool("h5dump");
    if (h5dump == null) return null;
    List<String> cmd = new ArrayList<>(List.of(h5dump.toString()));
    cmd.addAll(List.of(args));
    cmd.add(file.toString());
    String out = run(cmd);
    assertTrue(!out.contains("h5dump error") && !out.contains("HDF5-DIAG"), out);
    return out;
  }

  /**
   * The dataset's values as h5dump prints them with {@code %.9g} (9 significant digits identify a
   * float32), or null without h5dump.
   */
  static List<Float> h5dumpFloats(Path file, String dataset) throws IOException {
    String out = h5dump(file, "-m", "%.9g", "-d", dataset);
    if (out == null) return null;
    String data = out.substring(out.indexOf("DATA {") + 6);
    List<Float> values = new ArrayList<>();
    // Each line "(i,j): v, v, ..." : drop the index, keep the numbers (inf, -inf and nan as C prints them).
    for (String line : data.split("\n")) {
      int colon = line.indexOf("):");
      if (colon < 0) continue;
      Matcher m = Pattern.compile("-?inf|-?nan|[-+0-9.eE]+").matcher(line.substring(colon + 2));
      while (m.find()) values.add(switch (m.group()) {
        case "inf" -> Float.POSITIVE_INFINITY;
        case "-inf" -> Float.NEGATIVE_INFINITY;
        case "nan", "-nan" -> Float.NaN;
        default -> Float.parseFloat(m.group());
      });
    }
    return values;
  }
}
