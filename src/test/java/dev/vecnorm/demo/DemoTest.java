package dev.vecnorm.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The main job end to end on a small subset of the bundled data, in seconds. */
class DemoTest {
  @TempDir Path dir;

  @Test
  void runsEndToEndAndWritesAValidPng() throws Exception {
    System.setProperty("java.awt.headless", "true");
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    int code = Demo.run(new String[] {"--epochs", "2", "--limit", "500", "--out", dir.toString(), "--threads", "2"},
        new PrintStream(bytes, true, StandardCharsets.UTF_8));
    String out = bytes.toString(StandardCharsets.UTF_8);
    assertEquals(0, code, out);
    assertTrue(out.contains("| MLP+BN |") && out.contains("epochs to 80%"), out);
    BufferedImage img = ImageIO.read(dir.resolve("learning-curves.png").toFile());
    assertTrue(img != null && img.getWidth() > 500 && img.getHeight() > 300, "a readable PNG");
  }

  /** Writes an IDX file of unsigned bytes, gzipped when the name ends in .gz. */
  static void writeIdx(Path file, int[] dims, byte[] values) throws java.io.IOException {
    try (java.io.OutputStream raw = java.nio.file.Files.newOutputStream(file);
         java.io.OutputStream o = file.toString().endsWith(".gz") ? new java.util.zip.GZIPOutputStream(raw) : raw;
         java.io.DataOutputStream out = new java.io.DataOutputStream(o)) {
      out.writeInt(0x0800 | dims.length);
      for (int d : dims) out.writeInt(d);
      out.write(values);
    }
  }

  @Test
  void readsFullIdxFilesFromADirectoryPlainOrGzipped() throws Exception {
    java.util.SplittableRandom r = new java.util.SplittableRandom(3);
    int train = 240, test = 60;
    byte[] images = new byte[train * 784], labels = new byte[train], testImages = new byte[test * 784], testLabels = new byte[test];
    for (int i = 0; i < train; i++) labels[i] = (byte) (i % 10);
    for (int i = 0; i < test; i++) testLabels[i] = (byte) (i % 10);
    r.nextBytes(images);
    r.nextBytes(testImages);
    Path data = java.nio.file.Files.createDirectories(dir.resolve("data"));
    writeIdx(data.resolve("train-images-idx3-ubyte.gz"), new int[] {train, 28, 28}, images);
    writeIdx(data.resolve("train-labels-idx1-ubyte"), new int[] {train}, labels);
    writeIdx(data.resolve("t10k-images-idx3-ubyte"), new int[] {test, 28, 28}, testImages);
    writeIdx(data.resolve("t10k-labels-idx1-ubyte.gz"), new int[] {test}, testLabels);
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    int code = Demo.run(new String[] {"--data", data.toString(), "--epochs", "1", "--out", dir.resolve("o").toString()},
        new PrintStream(bytes, true, StandardCharsets.UTF_8));
    String out = bytes.toString(StandardCharsets.UTF_8);
    assertEquals(0, code, out);
    assertTrue(out.contains("220 train / 20 validation / 60 test"), out);

    java.nio.file.Files.write(data.resolve("t10k-labels-idx1-ubyte.gz"), new byte[] {1, 2, 3});
    java.io.IOException bad = assertThrows(java.io.IOException.class,
        () -> Demo.run(new String[] {"--data", data.toString(), "--epochs", "1"}, new PrintStream(new ByteArrayOutputStream())));
    assertTrue(bad.getMessage().contains("t10k"), bad.getMessage());
    assertThrows(IllegalArgumentException.class,
        () -> Demo.run(new String[] {"--data", dir.resolve("missing").toString()}, new PrintStream(new ByteArrayOutputStream())));
  }

  @Test
  void badFlagsAreOneLineErrors() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Demo.parse(new String[] {"--epochs", "zero"}));
    assertTrue(e.getMessage().contains("--epochs"));
    assertThrows(IllegalArgumentException.class, () -> Demo.parse(new String[] {"--bogus", "1"}));
    assertThrows(IllegalArgumentException.class, () -> Demo.parse(new String[] {"--lr"}));
    assertEquals(null, Demo.parse(new String[] {"--help"}));
  }
}
