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

  @Test
  void badFlagsAreOneLineErrors() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Demo.parse(new String[] {"--epochs", "zero"}));
    assertTrue(e.getMessage().contains("--epochs"));
    assertThrows(IllegalArgumentException.class, () -> Demo.parse(new String[] {"--bogus", "1"}));
    assertThrows(IllegalArgumentException.class, () -> Demo.parse(new String[] {"--lr"}));
    assertEquals(null, Demo.parse(new String[] {"--help"}));
  }
}
