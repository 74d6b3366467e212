@failure-mode @scenario-device-limit-reached
Feature: Device limit reached
  The user already owns as many devices as the per-user quota allows (most of them stale); DRS refuses with 801c0003.
  Guide section: You cannot join this device

  Scenario: Device limit reached: the symptom
    Given the scenario "device-limit-reached"
    When the user tries to join the PC as the scenario describes
    Then Settings shows the error code "801c0003"
    When the user restarts the PC and signs in with the Entra account
    And I run "dsregcmd /status"
    Then the output shows "AzureAdJoined : NO"
    And the device is not joined
    And the device is not enrolled in Intune

  Scenario: Device limit reached: the fix repairs it
    Given the scenario "device-limit-reached"
    When the user tries to join the PC as the scenario describes
    And the admin applies the scenario's fix
    And the user disconnects if needed and joins again
    And I run "dsregcmd /status"
    Then the output shows "AzureAdJoined : YES"
    And the device is joined
    And the device is enrolled in Intune
