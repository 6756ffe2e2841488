package dev.vecnorm.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.GZIPOutputStream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The main job end to end on small subsets of the bundled data (seconds), and its error paths. */
class DemoTest {
  @TempDir Path dir;

  private record Run(int code, String out) {}

  private static Run demo(boolean terminal, String... args) throws IOException {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    int code = Demo.run(args, new PrintStream(bytes, true, StandardCharsets.UTF_8), terminal);
    return new Run(code, bytes.toString(StandardCharsets.UTF_8));
  }

  @Test
  void everyClaimGetsARowAndAPanel() throws Exception {
    Path out = dir.resolve("out");
    Run r = demo(false, "--epochs", "2", "--limit", "300", "--out", out.toString(), "--threads", "2", "--verbose", "0");
    assertEquals(0, r.code(), r.out());
    for (String claim : new String[] {"1. faster convergence", "2. stable gradients", "3. regularization", "4. less sensitive to init",
        "5. larger learning rates"}) {
      Matcher row = Pattern.compile("(?m)^\\| " + Pattern.quote(claim) + " \\|.*\\| (yes|no|partly|not decided)[^|]* \\|$").matcher(r.out());
      assertTrue(row.find(), "a table row with a verdict for " + claim + " in\n" + r.out());
    }
    assertTrue(Files.readString(out.resolve("summary.md")).contains("| 5. larger learning rates |"));

    BufferedImage img = ImageIO.read(out.resolve("batchnorm-claims.png").toFile());
    assertTrue(img != null, "a PNG ImageIO can read");
    // Six panels (two for convergence, one per other claim), two per row, under the figure title.
    assertEquals(2 * Figure.PANEL_WIDTH, img.getWidth());
    assertEquals(Figure.TITLE_HEIGHT + 3 * Figure.PANEL_HEIGHT, img.getHeight());
    for (int panel = 0; panel < 6; panel++) {
      int x0 = (panel % 2) * Figure.PANEL_WIDTH, y0 = Figure.TITLE_HEIGHT + (panel / 2) * Figure.PANEL_HEIGHT;
      int ink = 0, bn = 0, noBn = 0;
      for (int y = y0; y < y0 + Figure.PANEL_HEIGHT; y++) {
        for (int x = x0; x < x0 + Figure.PANEL_WIDTH; x++) {
          int rgb = img.getRGB(x, y) & 0xffffff;
          if (rgb != 0xffffff) ink++;
          if (rgb == (Figure.BN.getRGB() & 0xffffff)) bn++;
          if (rgb == (Figure.NO_BN.getRGB() & 0xffffff)) noBn++;
        }
      }
      assertTrue(ink > 2000, "panel " + panel + " has axes, text and data (" + ink + " non-white pixels)");
      if (panel != 3) assertTrue(bn > 20 && noBn > 20, "panel " + panel + " draws both nets in their colours (" + bn + ", " + noBn + ")");
    }
  }

  @Test
  void oneExperimentAtATime() throws Exception {
    Run r = demo(false, "--experiment", "init", "--epochs", "1", "--limit", "200", "--out", dir.toString(), "--verbose", "0",
        "--threads", "2");
    assertEquals(0, r.code(), r.out());
    assertTrue(r.out().contains("| 4. less sensitive to init |"), r.out());
    assertFalse(r.out().contains("| 1. faster convergence |"), r.out());
    // Six runs: three scales, with and without BN.
    assertEquals(6, count(r.out(), "(?m)^\\[init\\] "), r.out());
    BufferedImage img = ImageIO.read(dir.resolve("batchnorm-claims.png").toFile());
    assertEquals(Figure.PANEL_WIDTH, img.getWidth());

    // One epoch: the epoch axis must still get labels XChart can lay out (it rejects empty ones).
    Run one = demo(false, "--experiment", "stability", "--epochs", "1", "--limit", "100", "--out", dir.resolve("s").toString(), "--verbose", "0");
    assertEquals(0, one.code(), one.out());
    assertTrue(one.out().contains("| 2. stable gradients |"), one.out());

    // Seeded runs: the same numbers whether they train one at a time or concurrently.
    Run serial = demo(false, "--experiment", "init", "--epochs", "1", "--limit", "200", "--out", dir.toString(), "--verbose", "0",
        "--threads", "1");
    assertEquals(table(r.out()), table(serial.out()));
  }

  /** The printed table and the numbers behind it: everything after the last run's log. */
  private static String table(String out) {
    return out.substring(out.indexOf("| claim |"), out.indexOf("figure: "));
  }

  @Test
  void unwritableOutFailsBeforeAnyTraining() throws Exception {
    Path file = Files.writeString(dir.resolve("a-file"), "x");
    for (Path bad : new Path[] {file, file.resolve("sub"), Path.of("/proc/vecnorm-demo-out")}) {
      if (bad.startsWith("/proc") && !Files.isDirectory(Path.of("/proc"))) continue;
      ByteArrayOutputStream bytes = new ByteArrayOutputStream();
      long start = System.nanoTime();
      IOException e = assertThrows(IOException.class,
          () -> Demo.run(new String[] {"--out", bad.toString()}, new PrintStream(bytes, true, StandardCharsets.UTF_8), false));
      double seconds = (System.nanoTime() - start) / 1e9;
      assertTrue(e.getMessage().startsWith("--out " + bad + " "), e.getMessage());
      assertTrue(e.getMessage().contains("not a writable folder") || e.getMessage().contains("is a file"), e.getMessage());
      assertEquals("", bytes.toString(StandardCharsets.UTF_8), "nothing trained or printed before the check");
      assertTrue(seconds < 2, "fails at once, took " + seconds + " s");
    }
  }

  @Test
  void notATerminalPrintsOneLinePerEpoch() throws Exception {
    String[] args = {"--experiment", "convergence", "--epochs", "3", "--limit", "200", "--threads", "1", "--out", dir.toString()};
    Run log = demo(false, args);
    assertEquals(0, log.code(), log.out());
    assertFalse(log.out().contains("\r"), "no carriage-return redraws in a log");
    // Keras's verbose=2: "Epoch 1/3 - 0.1s - loss: ..." once per epoch of each of the two runs.
    assertEquals(6, count(log.out(), "(?m)^Epoch [123]/3 - [0-9.]+s - loss: "), log.out());

    Run tty = demo(true, args);
    assertTrue(tty.out().contains("\r"), "a terminal running one run at a time gets the progress bar");
    Run forced = demo(true, concat(args, "--verbose", "2"));
    assertFalse(forced.out().contains("\r"));
    assertEquals(6, count(forced.out(), "(?m)^Epoch [123]/3 - "));
  }

  @Test
  void aBadLabelsFileIsNamedInTheError() throws Exception {
    Path data = fullDataSet(240, 60);
    Path labels = data.resolve("t10k-labels-idx1-ubyte.gz");
    String[] args = {"--data", data.toString(), "--epochs", "1", "--experiment", "convergence", "--out", dir.resolve("o").toString()};

    Files.write(labels, new byte[] {1, 2, 3}); // not gzip, not IDX: a truncated header
    assertNamesOnly(labels, assertThrows(IOException.class, () -> demo(false, args)));

    byte[] bad = new byte[60];
    bad[17] = 12; // class 12 of 10
    writeIdx(labels, new int[] {60}, bad);
    IOException e = assertThrows(IOException.class, () -> demo(false, args));
    assertNamesOnly(labels, e);
    assertTrue(e.getMessage().contains("label 12 at index 17"), e.getMessage());

    writeIdx(labels, new int[] {59}, new byte[59]);
    e = assertThrows(IOException.class, () -> demo(false, args));
    assertTrue(e.getMessage().startsWith(labels + " has 59 labels but "), e.getMessage());
  }

  private static void assertNamesOnly(Path labels, IOException e) {
    assertTrue(e.getMessage().contains(labels.toString()), e.getMessage());
    assertFalse(e.getMessage().contains("images"), "names the labels file, not the images file: " + e.getMessage());
  }

  @Test
  void readsFullIdxFilesFromADirectoryPlainOrGzipped() throws Exception {
    Path data = fullDataSet(240, 60);
    Run r = demo(false, "--data", data.toString(), "--epochs", "1", "--experiment", "convergence", "--out", dir.resolve("o").toString());
    assertEquals(0, r.code(), r.out());
    assertTrue(r.out().contains("220 train / 20 validation / 60 test"), r.out());
    assertThrows(Demo.UsageException.class, () -> demo(false, "--data", dir.resolve("missing").toString(), "--out", dir.toString()));
  }

  @Test
  void badFlagsAreOneLineErrors() {
    Demo.UsageException e = assertThrows(Demo.UsageException.class, () -> Demo.parse(new String[] {"--epochs", "zero"}, false));
    assertTrue(e.getMessage().contains("--epochs"));
    e = assertThrows(Demo.UsageException.class, () -> Demo.parse(new String[] {"--experiment", "speed"}, false));
    assertTrue(e.getMessage().contains("'speed'"), e.getMessage());
    assertThrows(Demo.UsageException.class, () -> Demo.parse(new String[] {"--verbose", "3"}, false));
    assertThrows(Demo.UsageException.class, () -> Demo.parse(new String[] {"--bogus", "1"}, false));
    assertThrows(Demo.UsageException.class, () -> Demo.parse(new String[] {"--lr"}, false));
    assertNull(Demo.parse(new String[] {"--help"}, false));
    assertEquals(2, Demo.parse(new String[] {"--threads", "1"}, false).verbose());
    assertEquals(1, Demo.parse(new String[] {"--threads", "1"}, true).verbose());
    assertEquals(2, Demo.parse(new String[] {"--threads", "2"}, true).verbose(), "concurrent runs never redraw a bar");
  }

  /** train-* (images gzipped, labels plain) and t10k-* (images plain, labels gzipped), random pixels. */
  private Path fullDataSet(int train, int test) throws IOException {
    SplittableRandom r = new SplittableRandom(3);
    byte[] images = new byte[train * 784], labels = new byte[train], testImages = new byte[test * 784], testLabels = new byte[test];
    for (int i = 0; i < train; i++) labels[i] = (byte) (i % 10);
    for (int i = 0; i < test; i++) testLabels[i] = (byte) (i % 10);
    r.nextBytes(images);
    r.nextBytes(testImages);
    Path data = Files.createDirectories(dir.resolve("data"));
    writeIdx(data.resolve("train-images-idx3-ubyte.gz"), new int[] {train, 28, 28}, images);
    writeIdx(data.resolve("train-labels-idx1-ubyte"), new int[] {train}, labels);
    writeIdx(data.resolve("t10k-images-idx3-ubyte"), new int[] {test, 28, 28}, testImages);
    writeIdx(data.resolve("t10k-labels-idx1-ubyte.gz"), new int[] {test}, testLabels);
    return data;
  }

  /** Writes an IDX file of unsigned bytes, gzipped when the name ends in .gz. */
  static void writeIdx(Path file, int[] dims, byte[] values) throws IOException {
    try (OutputStream raw = Files.newOutputStream(file);
         OutputStream o = file.toString().endsWith(".gz") ? new GZIPOutputStream(raw) : raw;
         DataOutputStream out = new DataOutputStream(o)) {
      out.writeInt(0x0800 | dims.length);
      for (int d : dims) out.writeInt(d);
      out.write(values);
    }
  }

  private static int count(String text, String regex) {
    Matcher m = Pattern.compile(regex).matcher(text);
    int n = 0;
    while (m.find()) n++;
    return n;
  }

  private static String[] concat(String[] a, String... b) {
    String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }
}
