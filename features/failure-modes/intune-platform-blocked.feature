@failure-mode @scenario-intune-platform-blocked
Feature: Intune platform blocked
  An Intune platform restriction blocks Windows (MDM); enrollment fails with 80180014.
  Guide section: Intune not enrolling

  Scenario: Intune platform blocked: the symptom
    Given the scenario "intune-platform-blocked"
    When the user tries to join the PC as the scenario describes
    Then Settings shows the error code "80180014"
    When the user restarts the PC and signs in with the Entra account
    And I run "dsregcmd /status"
    Then the output shows "AzureAdJoined : NO"
    And the device is not joined
    And the device is not enrolled in Intune

  Scenario: Intune platform blocked: the fix repairs it
    Given the scenario "intune-platform-blocked"
    When the user tries to join the PC as the scenario describes
    And the admin applies the scenario's fix
    And the user disconnects if needed and joins again
    And I run "dsregcmd /status"
    Then the output shows "AzureAdJoined : YES"
    And the device is joined
    And the device is enrolled in Intune
