/*
 * Upload page: drag and drop or the file picker (many files, several picks add up), a list of what will
 * be sent with sizes, client-side checks that mirror the server's (size, type, count), and an upload
 * progress bar.  The server still decides: its answer (a redirect to the job page, or the form again
 * with errors) is followed as a normal navigation would be.
 *
 * Markup: <form id="upload-form" data-max-file-bytes data-max-files data-accept> holding
 * <input type="file" name="files" multiple id="id_files">.
 */
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  var input = document.getElementById("id_files");
  if (!form || !input || !window.FormData || !window.XMLHttpRequest) return;

  var maxBytes = parseInt(form.dataset.maxFileBytes, 10) || 0;
  var maxFiles = parseInt(form.dataset.maxFiles, 10) || 0;
  var accept = (form.dataset.accept || input.getAttribute("accept") || "")
    .split(",").map(function (s) { return s.trim().toLowerCase(); }).filter(Boolean);
  if (accept.length && !input.getAttribute("accept")) input.setAttribute("accept", accept.join(","));
  // The list below is what gets sent and the input is cleared after each pick, so the browser's own
  // "required" check would block every submit; the script checks for an empty list instead.
  input.required = false;

  var files = [];  // [{file, error}] in the order chosen

  function humanSize(bytes) {
    if (bytes < 1024) return bytes + " B";
    var units = ["KB", "MB", "GB"];
    var v = bytes, u = -1;
    do { v /= 1024; u++; } while (v >= 1024 && u < units.length - 1);
    return (v < 10 ? v.toFixed(1) : Math.round(v)) + " " + units[u];
  }

  function extension(name) {
    var dot = name.lastIndexOf(".");
    return dot > 0 ? name.slice(dot).toLowerCase() : "";
  }

  /** The same rules the server applies; a message a person can act on, or "" when the file may go. */
  function check(file) {
    if (accept.length && accept.indexOf(extension(file.name)) === -1) {
      return "Unsupported type" + (extension(file.name) ? " (" + extension(file.name) + ")" : "") +
        ": choose " + accept.join(", ") + ".";
    }
    if (maxBytes && file.size > maxBytes) {
      return "Too large: " + humanSize(file.size) + ", the limit is " + humanSize(maxBytes) + " per file.";
    }
    if (file.size === 0) return "Empty file.";
    return "";
  }

  // ---- the enhanced widget ------------------------------------------------------------------------
  var zone = document.createElement("div");
  zone.className = "dropzone";
  zone.id = "dropzone";
  var zoneText = document.createElement("p");
  zoneText.className = "dropzone__text";
  // Hidden where the pointer is a finger (CSS, pointer: coarse): phones cannot drop files.
  var dropHint = document.createElement("span");
  dropHint.className = "drop-hint";
  var strong = document.createElement("strong");
  strong.textContent = "Drop recordings here";
  dropHint.appendChild(strong);
  dropHint.appendChild(document.createTextNode(" or "));
  zoneText.appendChild(dropHint);
  var pick = document.createElement("label");
  pick.className = "button button--secondary";
  pick.htmlFor = input.id;
  pick.textContent = "Choose files…";
  zoneText.appendChild(pick);
  var hint = document.createElement("p");
  hint.className = "dropzone__hint muted";
  hint.textContent = (accept.length ? accept.join(", ") : "audio files") +
    (maxBytes ? " · up to " + humanSize(maxBytes) + " each" : "") +
    (maxFiles ? " · at most " + maxFiles + " files" : "");
  zone.appendChild(zoneText);
  zone.appendChild(hint);
  input.insertAdjacentElement("beforebegin", zone);
  zone.appendChild(input);
  input.classList.add("visually-hidden-input");
  // The native label (if any) now duplicates the button.
  var nativeLabel = form.querySelector('label[for="' + input.id + '"]:not(.button)');
  if (nativeLabel) nativeLabel.classList.add("visually-hidden");

  var summary = document.createElement("p");
  summary.id = "upload-summary";
  summary.className = "upload-summary";
  summary.setAttribute("aria-live", "polite");
  var list = document.createElement("ul");
  list.id = "upload-list";
  list.className = "file-list";
  var bar = document.createElement("progress");
  bar.id = "upload-progress";
  bar.max = 100;
  bar.value = 0;
  bar.hidden = true;
  var barText = document.createElement("p");
  barText.id = "upload-progress-text";
  barText.className = "progress-text";
  barText.setAttribute("aria-live", "polite");
  barText.hidden = true;
  var errorBox = document.createElement("div");
  errorBox.id = "upload-errors";
  errorBox.className = "notice notice--error";
  errorBox.setAttribute("role", "alert");
  errorBox.hidden = true;
  zone.insertAdjacentElement("afterend", errorBox);
  errorBox.insertAdjacentElement("afterend", summary);
  summary.insertAdjacentElement("afterend", list);
  var submit = form.querySelector('[type="submit"]');
  (submit || list).insertAdjacentElement(submit ? "beforebegin" : "afterend", bar);
  bar.insertAdjacentElement("afterend", barText);

  function valid() {
    return files.filter(function (f) { return !f.error; });
  }

  function render() {
    list.innerHTML = "";
    files.forEach(function (entry, index) {
      var li = document.createElement("li");
      li.className = "file-list__item" + (entry.error ? " is-rejected" : "");
      var name = document.createElement("span");
      name.className = "file-list__name";
      name.textContent = entry.file.name;
      var size = document.createElement("span");
      size.className = "file-list__size";
      size.textContent = humanSize(entry.file.size);
      li.appendChild(name);
      li.appendChild(size);
      if (entry.error) {
        var err = document.createElement("span");
        err.className = "file-list__error";
        err.textContent = entry.error;
        li.appendChild(err);
      }
      var remove = document.createElement("button");
      remove.type = "button";
      remove.className = "button button--link";
      remove.textContent = "Remove";
      remove.setAttribute("aria-label", "Remove " + entry.file.name);
      remove.addEventListener("click", function () {
        files.splice(index, 1);
        render();
      });
      li.appendChild(remove);
      list.appendChild(li);
    });
    var ok = valid();
    var rejected = files.length - ok.length;
    var bytes = ok.reduce(function (s, f) { return s + f.file.size; }, 0);
    if (!files.length) {
      summary.textContent = "No files chosen yet.";
    } else {
      summary.textContent = ok.length + " file" + (ok.length === 1 ? "" : "s") + " to send (" + humanSize(bytes) + ")" +
        (rejected ? "; " + rejected + " will not be sent, see below." : ".");
    }
    var tooMany = maxFiles && ok.length > maxFiles;
    if (tooMany) showErrors(["Too many files: at most " + maxFiles + " per upload. Remove some before sending."]);
    else if (rejected) showErrors(files.filter(function (f) { return f.error; }).map(function (f) {
      return f.file.name + ": " + f.error;
    }));
    else showErrors([]);
    if (submit) submit.disabled = !ok.length || tooMany;
  }

  function showErrors(messages) {
    errorBox.innerHTML = "";
    errorBox.hidden = !messages.length;
    if (!messages.length) return;
    var ul = document.createElement("ul");
    messages.forEach(function (m) {
      var li = document.createElement("li");
      li.textContent = m;
      ul.appendChild(li);
    });
    errorBox.appendChild(ul);
  }

  function add(fileList) {
    Array.prototype.forEach.call(fileList, function (file) {
      var duplicate = files.some(function (f) {
        return f.file.name === file.name && f.file.size === file.size && f.file.lastModified === file.lastModified;
      });
      if (!duplicate) files.push({ file: file, error: check(file) });
    });
    render();
  }

  input.addEventListener("change", function () {
    add(input.files);
    // The list above is what will be sent; clearing lets the same file be picked again after removal.
    input.value = "";
  });

  ["dragenter", "dragover"].forEach(function (name) {
    zone.addEventListener(name, function (e) {
      e.preventDefault();
      zone.classList.add("is-dragover");
    });
  });
  ["dragleave", "drop"].forEach(function (name) {
    zone.addEventListener(name, function (e) {
      e.preventDefault();
      zone.classList.remove("is-dragover");
    });
  });
  zone.addEventListener("drop", function (e) {
    if (e.dataTransfer && e.dataTransfer.files) add(e.dataTransfer.files);
  });

  // ---- sending ------------------------------------------------------------------------------------
  function serverErrors(html) {
    // The server answered with the form again: show its messages and field errors here.
    var doc = new DOMParser().parseFromString(html, "text/html");
    var found = doc.querySelectorAll(".errorlist li, .messages li, .alert, .error");
    var messages = Array.prototype.map.call(found, function (el) { return el.textContent.trim(); })
      .filter(Boolean);
    return messages.length ? messages : ["The server did not accept the upload. Please try again."];
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var ok = valid();
    if (!ok.length) {
      showErrors(["Choose at least one supported audio file first."]);
      return;
    }
    if (maxFiles && ok.length > maxFiles) return;
    var data = new FormData(form);
    data.delete(input.name);
    ok.forEach(function (f) { data.append(input.name, f.file, f.file.name); });

    var xhr = new XMLHttpRequest();
    xhr.open(form.method || "POST", form.action || window.location.href);
    xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
    bar.hidden = false;
    barText.hidden = false;
    bar.value = 0;
    barText.textContent = "Uploading…";
    if (submit) submit.disabled = true;
    form.classList.add("is-uploading");

    xhr.upload.addEventListener("progress", function (e) {
      if (!e.lengthComputable) return;
      bar.value = Math.round((e.loaded / e.total) * 100);
      barText.textContent = "Uploading… " + humanSize(e.loaded) + " of " + humanSize(e.total) +
        " (" + bar.value + "%)";
    });
    xhr.upload.addEventListener("load", function () {
      bar.value = 100;
      barText.textContent = "Uploaded. Starting the analysis…";
    });
    xhr.addEventListener("load", function () {
      // Accepted: the server names the job page (and keeps its "N files received" message for it).
      var answer = null;
      if (xhr.status >= 200 && xhr.status < 300 && /json/.test(xhr.getResponseHeader("Content-Type") || "")) {
        try { answer = JSON.parse(xhr.responseText); } catch (err) { answer = null; }
      }
      if (answer && answer.location) {
        window.location.assign(answer.location);
        return;
      }
      form.classList.remove("is-uploading");
      bar.hidden = true;
      barText.textContent = "";
      showErrors(xhr.status >= 500
        ? ["The server failed to take the upload (HTTP " + xhr.status + "). Please try again later."]
        : serverErrors(xhr.responseText));
      if (submit) submit.disabled = false;
    });
    xhr.addEventListener("error", function () {
      form.classList.remove("is-uploading");
      bar.hidden = true;
      barText.textContent = "";
      showErrors(["The upload was interrupted. Check your connection and try again."]);
      if (submit) submit.disabled = false;
    });
    xhr.send(data);
  });

  // Files picked before this script ran (a slow connection, or the browser restoring the input after
  // "back") are in the input already and no change event will come for them: take them now.
  if (input.files && input.files.length) {
    add(input.files);
    input.value = "";
  } else {
    render();
  }
})();
