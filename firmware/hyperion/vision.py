# Image preprocessing on the board: area-average resize of a grayscale image to the model's input size,
# rescaled to [0, 1]. No allocation per pixel beyond the output array.
import array


def resize_area(img, w, h, out_w, out_h, max_value=255.0, out=None):
    """Grayscale img (w*h values, row-major) -> out_w*out_h floats in [0, 1], each the mean of its source area."""
    if len(img) != w * h:
        raise ValueError("image has %d pixels, expected %d x %d = %d" % (len(img), w, h, w * h))
    if out is None:
        out = array.array("f", bytes(4 * out_w * out_h))
    inv = 1.0 / max_value
    for oy in range(out_h):
        y0 = oy * h // out_h
        y1 = max(y0 + 1, (oy + 1) * h // out_h)
        for ox in range(out_w):
            x0 = ox * w // out_w
            x1 = max(x0 + 1, (ox + 1) * w // out_w)
            s = 0
            for y in range(y0, y1):
                row = y * w
                for x in range(x0, x1):
                    s += img[row + x]
            out[oy * out_w + ox] = s * inv / ((y1 - y0) * (x1 - x0))
    return out
